"""Backup policies: creating, changing and deleting them, with the product's rules, in one transaction with
their Celery beat entry (so the scheduler never runs a policy that no longer exists).

A policy is its schedule (policy_schedule.py) and its retention rules (policy_retention.py); changes that keep
less go through the vault's safeguards (reductions.py) and resource guards first.
"""

import contextlib
import re
from datetime import time

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import Signal, receiver
from django.utils import timezone as dj_timezone

from backup.guard import services as guard
from backup.guard.models import GuardedOperation
from backup.vaults.models import Vault
from backup.vaults.services import vault_activated

from ..models import BackupPolicy
from . import reductions

# Also re-exported: views, forms, the API, the CLI and tests reach the schedule and the rules through here.
from .policy_retention import (  # noqa: F401
    LAST,
    MONTHS,
    RETENTION_RANGES,
    RULE_DAY_FIELDS,
    WEEKS_OF_MONTH,
    clean_retention,
    describe_retention,
    retention_reduced,
    retention_rules,
)
from .policy_schedule import COMMON_TIMEZONES, WEEKDAYS, clean_schedule, describe_schedule, sync_schedule  # noqa: F401

# Sent inside the transaction that changed a policy (arguments: policy, user). Protection re-applies the
# policy to the machines it protects (backup/vms/services/protection.py): policies need not know about them.
policy_changed = Signal()
DEFAULT_POLICY_NAME = "DefaultPolicy"
NAME_PATTERN = re.compile(r"^[A-Za-z][-A-Za-z0-9]*[A-Za-z0-9]$")
NAME_CLASH = "A protection policy with the specified name already exists."
POLICY_FIELDS = ["name", "frequency", "days_of_week", "time_of_day", "timezone", *RETENTION_RANGES, *RULE_DAY_FIELDS]


def clean_policy(vault: Vault, data: dict, instance: BackupPolicy | None = None) -> dict:
    """Check a policy against the product's rules; return cleaned values or raise ValidationError
    with one message per field (the message states the allowed range)."""
    errors: dict[str, str] = {}
    cleaned: dict = {}
    name = (data.get("name") or "").strip()
    if not 3 <= len(name) <= 150:
        errors["name"] = "The policy name must be between 3 and 150 characters long."
    elif not NAME_PATTERN.match(name):
        errors["name"] = (
            "The policy name must start with a letter, end with a letter or digit, and contain only "
            "letters, digits and hyphens."
        )
    else:
        clash = vault.policies.filter(name__iexact=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["name"] = NAME_CLASH
    cleaned["name"] = name

    cleaned.update(clean_schedule(data, errors))
    cleaned.update(clean_retention(data, cleaned, errors))
    if errors:
        raise ValidationError(errors)
    return cleaned


@contextlib.contextmanager
def _name_clash_refused(vault: Vault, name: str, instance: BackupPolicy | None = None):
    """Another request may take the name between clean_policy's check and the write: the unique index refuses it
    (IntegrityError, its savepoint rolled back) and the user gets the same clash message as from the check."""
    try:
        yield
    except IntegrityError:
        clash = vault.policies.filter(name__iexact=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            raise ValidationError({"name": NAME_CLASH}) from None
        raise


def create_policy(vault: Vault, data: dict) -> BackupPolicy:
    if vault.status != Vault.Status.ACTIVE:
        raise ValidationError({"__all__": "Policies can be defined once the backup vault is active."})
    cleaned = clean_policy(vault, data)
    with _name_clash_refused(vault, cleaned["name"]), transaction.atomic():
        policy = BackupPolicy.objects.create(vault=vault, **cleaned)
        sync_schedule(policy)
    return policy


RETENTION_FIELDS = (
    "daily_retention_days",
    "weekly_retention_weeks",
    "monthly_retention_months",
    "yearly_retention_years",
)


def keeps_less(policy: BackupPolicy, cleaned: dict) -> bool:
    """Would the change keep fewer points than the policy does (a shorter or a dropped rule, or the same
    durations on fewer or other days: reductions.retention_reductions, what immutability refuses too)?"""
    return bool(
        reductions.retention_reductions(policy, {**{f: getattr(policy, f) for f in RETENTION_FIELDS}, **cleaned})
    )


def require_approval_to_keep_less(policy: BackupPolicy, cleaned: dict, user, approval=None) -> None:
    """A change that keeps less may need a resource guard's approval, for exactly these retention values."""
    if not keeps_less(policy, cleaned):
        return
    values = ",".join(
        f"{field.split('_')[0]}={cleaned.get(field, getattr(policy, field)) or 0}" for field in RETENTION_FIELDS
    )
    guard.require_approval(
        user,
        policy.vault.subscription_id,
        GuardedOperation.REDUCE_RETENTION,
        f"policy:{policy.pk}:{values}",
        target_name=f"{policy.name} ({values})",
        vault_id=policy.vault_id,
        request_id=approval,
    )


def update_policy(policy: BackupPolicy, data: dict, user=None, approval: int | str | None = None) -> BackupPolicy:
    """Change a policy and its schedule; as in the product, each machine using it then gets a Configure
    Protection job that re-applies it (see policy_changed)."""

    cleaned = clean_policy(policy.vault, data, instance=policy)
    reductions.refuse_policy_change(policy, cleaned)  # an immutable vault's policies never keep less
    require_approval_to_keep_less(policy, cleaned, user, approval)
    with _name_clash_refused(policy.vault, cleaned["name"], instance=policy), transaction.atomic():
        for field, value in cleaned.items():
            setattr(policy, field, value)
        policy.updated_at = dj_timezone.now()
        policy.save()
        sync_schedule(policy)
        policy_changed.send(sender=BackupPolicy, policy=policy, user=user)
    return policy


def policy_in_use_message(policy: BackupPolicy) -> str | None:
    names = [
        f"{vm} ({cloud_service})"
        for vm, cloud_service in policy.protected_items.exclude(status="stopped").values_list(
            "vm_name", "cloud_service_name"
        )[:10]
    ]
    if not names:
        return None
    return (
        f"The policy '{policy.name}' cannot be deleted because it protects: {', '.join(names)}. "
        "Protect these virtual machines with another policy, or stop their protection, first."
    )


def delete_policy(policy: BackupPolicy) -> None:
    """Delete an unused policy and its schedule; refuse (ValidationError) while VMs use it."""
    message = policy_in_use_message(policy)
    if message:
        raise ValidationError({"__all__": message})
    with transaction.atomic():
        task = policy.periodic_task
        # Stopped items keep their recovery points but no longer need the policy.
        policy.protected_items.update(policy=None)
        policy.delete()
        if task is not None:
            task.delete()


@receiver(vault_activated)
def _give_default_policy(sender, vault: Vault, **kwargs) -> None:
    ensure_default_policy(vault)


def ensure_default_policy(vault: Vault) -> BackupPolicy | None:
    """Give an Active vault its DefaultPolicy (daily 22:00 UTC, kept 30 days), once: when its creation
    ends (vault_activated)."""
    if vault.status != Vault.Status.ACTIVE or vault.policies.exists():
        return None
    with transaction.atomic():
        policy, created = BackupPolicy.objects.get_or_create(
            vault=vault,
            name=DEFAULT_POLICY_NAME,
            defaults={
                "frequency": BackupPolicy.Frequency.DAILY,
                "time_of_day": time(22, 0),
                "timezone": "UTC",
                "daily_retention_days": 30,
            },
        )
        if created:
            sync_schedule(policy)
    return policy


def described(queryset) -> list[BackupPolicy]:
    """Policies with `schedule_text` and `retention_text` set, for read-only display."""
    rows = list(queryset)
    for policy in rows:
        policy.schedule_text = describe_schedule(policy)
        policy.retention_text = describe_retention(policy)
    return rows
