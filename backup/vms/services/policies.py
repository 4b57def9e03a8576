"""Backup policies: validation with the product's rules, CRUD, and each policy's Celery beat entry.

A policy's schedule lives twice: as the user gave it on the row, and as a django_celery_beat
PeriodicTask (a CrontabSchedule in the policy's time zone) that fires
``backup.vms.tasks.run_scheduled_backups`` with ``{"policy_id": id}``. Both change in one
transaction, so the scheduler never runs a policy that no longer exists.
"""

import contextlib
import functools
import json
import re
from datetime import time
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import Signal, receiver
from django.utils import timezone as dj_timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from backup.guard import services as guard
from backup.guard.models import GuardedOperation
from backup.vaults.models import Vault
from backup.vaults.services import vault_activated

from ..models import BackupPolicy

SCHEDULED_BACKUP_TASK = "backup.vms.tasks.run_scheduled_backups"

# Sent inside the transaction that changed a policy (arguments: policy, user). Protection re-applies the
# policy to the machines it protects (backup/vms/services/protection.py): policies need not know about them.
policy_changed = Signal()
DEFAULT_POLICY_NAME = "DefaultPolicy"
NAME_PATTERN = re.compile(r"^[A-Za-z][-A-Za-z0-9]*[A-Za-z0-9]$")
NAME_CLASH = "A protection policy with the specified name already exists."
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# (field, lowest, highest, unit) of each retention rule, as the product allowed them.
RETENTION_RANGES = {
    "daily_retention_days": (1, 366, "days"),
    "weekly_retention_weeks": (1, 260, "weeks"),
    "monthly_retention_months": (1, 120, "months"),
    "yearly_retention_years": (1, 99, "years"),
}
RULE_LABELS = {
    "daily_retention_days": "daily",
    "weekly_retention_weeks": "weekly",
    "monthly_retention_months": "monthly",
    "yearly_retention_years": "yearly",
}

# The time zones the forms offer; the API accepts any IANA name.
COMMON_TIMEZONES = [
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Amsterdam",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Hong_Kong",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
]

POLICY_FIELDS = ["name", "frequency", "days_of_week", "time_of_day", "timezone", *RETENTION_RANGES]


def floor_to_half_hour(value: time) -> time:
    return time(value.hour, 30 if value.minute >= 30 else 0)


def clean_policy(vault: Vault, data: dict, instance: BackupPolicy | None = None) -> dict:
    """Check a policy against the product's rules; return cleaned values or raise ValidationError
    with one message per field (the message states the allowed range)."""
    errors: dict[str, str] = {}
    cleaned: dict = {}
    name = (data.get("name") or "").strip()
    if not 3 <= len(name) <= 150:
        errors["name"] = "The policy name must be between 3 and 150 characters long."
    elif not NAME_PATTERN.match(name):
        errors["name"] = ("The policy name must start with a letter, end with a letter or digit, and contain only "
                          "letters, digits and hyphens.")
    else:
        clash = vault.policies.filter(name__iexact=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["name"] = NAME_CLASH
    cleaned["name"] = name

    frequency = data.get("frequency") or BackupPolicy.Frequency.DAILY
    if frequency not in BackupPolicy.Frequency.values:
        errors["frequency"] = "Choose Daily or Weekly."
    cleaned["frequency"] = frequency

    days = _clean_days(data.get("days_of_week") or [], errors)
    if frequency == BackupPolicy.Frequency.WEEKLY and not days and "days_of_week" not in errors:
        errors["days_of_week"] = "Choose at least one day of the week for a weekly backup."
    cleaned["days_of_week"] = days if frequency == BackupPolicy.Frequency.WEEKLY else []

    at = data.get("time_of_day")
    if isinstance(at, str):
        at = _parse_time(at)
    if not isinstance(at, time):
        errors["time_of_day"] = "Enter the time of day as HH:MM (it is rounded down to a 30-minute step)."
    else:
        cleaned["time_of_day"] = floor_to_half_hour(at)

    zone = data.get("timezone") or "UTC"
    if zone not in _zones():
        errors["timezone"] = f"'{zone}' is not a known time zone; use an IANA name such as UTC or Europe/London."
    cleaned["timezone"] = zone

    for field, (low, high, unit) in RETENTION_RANGES.items():
        cleaned[field] = _clean_retention(data.get(field), field, low, high, unit, errors)

    if frequency == BackupPolicy.Frequency.DAILY and cleaned["daily_retention_days"] is None:
        errors.setdefault("daily_retention_days",
                          "A daily backup schedule needs a daily retention rule (1 to 366 days).")
    if frequency == BackupPolicy.Frequency.WEEKLY:
        if cleaned["weekly_retention_weeks"] is None:
            errors.setdefault("weekly_retention_weeks",
                              "A weekly backup schedule needs a weekly retention rule (1 to 260 weeks).")
        if cleaned["daily_retention_days"] is not None:
            errors.setdefault("daily_retention_days",
                              "A weekly backup schedule cannot have a daily retention rule; clear this field.")
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


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def _parse_time(text: str) -> time | None:
    try:
        hours, minutes = text.strip().split(":")[:2]
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        return None


def _clean_days(values, errors: dict) -> list[int]:
    days = []
    for value in values:
        try:
            day = int(value)
        except (TypeError, ValueError):
            day = -1
        if not 0 <= day <= 6:
            errors["days_of_week"] = "Days of the week are numbers from 0 (Monday) to 6 (Sunday)."
            return []
        days.append(day)
    return sorted(set(days))


def _clean_retention(value, field: str, low: int, high: int, unit: str, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high or str(value).strip() != str(number):
        errors[field] = f"Keep {RULE_LABELS[field]} backup points for {low} to {high} {unit}."
        return None
    return number


def create_policy(vault: Vault, data: dict) -> BackupPolicy:
    if vault.status != Vault.Status.ACTIVE:
        raise ValidationError({"__all__": "Policies can be defined once the backup vault is active."})
    cleaned = clean_policy(vault, data)
    with _name_clash_refused(vault, cleaned["name"]), transaction.atomic():
        policy = BackupPolicy.objects.create(vault=vault, **cleaned)
        sync_schedule(policy)
    return policy


RETENTION_FIELDS = ("daily_retention_days", "weekly_retention_weeks", "monthly_retention_months",
                    "yearly_retention_years")


def keeps_less(policy: BackupPolicy, cleaned: dict) -> bool:
    """Would the change keep fewer points than the policy does (a shorter or a dropped rule)?"""
    for field in RETENTION_FIELDS:
        before, after = getattr(policy, field), cleaned.get(field, getattr(policy, field))
        if before and (not after or after < before):
            return True
    return False


def require_approval_to_keep_less(policy: BackupPolicy, cleaned: dict, user, approval=None) -> None:
    """A change that keeps less may need a resource guard's approval, for exactly these retention values."""
    if not keeps_less(policy, cleaned):
        return
    values = ",".join(f"{field.split('_')[0]}={cleaned.get(field, getattr(policy, field)) or 0}"
                      for field in RETENTION_FIELDS)
    guard.require_approval(user, policy.vault.subscription_id, GuardedOperation.REDUCE_RETENTION,
                           f"policy:{policy.pk}:{values}", target_name=f"{policy.name} ({values})",
                           vault_id=policy.vault_id, request_id=approval)


def update_policy(policy: BackupPolicy, data: dict, user=None, approval: int | str | None = None) -> BackupPolicy:
    """Change a policy and its schedule; as in the product, each machine using it then gets a Configure
    Protection job that re-applies it (see policy_changed)."""

    cleaned = clean_policy(policy.vault, data, instance=policy)
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
    names = list(policy.protected_items.exclude(status="stopped").values_list("vm_name", flat=True)[:10])
    if not names:
        return None
    return (f"The policy '{policy.name}' cannot be deleted because it protects: {', '.join(names)}. "
            "Protect these virtual machines with another policy, or stop their protection, first.")


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
            vault=vault, name=DEFAULT_POLICY_NAME,
            defaults={"frequency": BackupPolicy.Frequency.DAILY, "time_of_day": time(22, 0), "timezone": "UTC",
                      "daily_retention_days": 30},
        )
        if created:
            sync_schedule(policy)
    return policy


def crontab_fields(policy: BackupPolicy) -> dict:
    """Crontab of a policy. Celery counts weekdays from Sunday = 0; the policy from Monday = 0."""
    if policy.frequency == BackupPolicy.Frequency.WEEKLY and policy.days_of_week:
        day_of_week = ",".join(str((day + 1) % 7) for day in sorted(policy.days_of_week))
    else:
        day_of_week = "*"
    return {"minute": str(policy.time_of_day.minute), "hour": str(policy.time_of_day.hour),
            "day_of_week": day_of_week, "day_of_month": "*", "month_of_year": "*", "timezone": policy.timezone}


def sync_schedule(policy: BackupPolicy) -> PeriodicTask:
    """Create or update the policy's PeriodicTask; call inside the policy's transaction."""
    crontab, _ = CrontabSchedule.objects.get_or_create(**crontab_fields(policy))
    fields = {"task": SCHEDULED_BACKUP_TASK, "crontab": crontab, "kwargs": json.dumps({"policy_id": policy.pk}),
              "enabled": True, "description": f"Backup policy '{policy.name}' of vault {policy.vault_id}"}
    task = policy.periodic_task
    if task is None:
        task = PeriodicTask.objects.create(name=f"backup-policy-{policy.pk}", **fields)
        BackupPolicy.objects.filter(pk=policy.pk).update(periodic_task=task)
        policy.periodic_task = task
    else:
        for field, value in fields.items():
            setattr(task, field, value)
        task.save()
    return task


def describe_schedule(policy: BackupPolicy) -> str:
    at = policy.time_of_day.strftime("%H:%M")
    if policy.frequency == BackupPolicy.Frequency.WEEKLY:
        days = ", ".join(WEEKDAYS[d] for d in policy.days_of_week)
        return f"Weekly on {days} at {at} ({policy.timezone})"
    return f"Daily at {at} ({policy.timezone})"


def describe_retention(policy: BackupPolicy) -> list[str]:
    parts = []
    for field, (_, _, unit) in RETENTION_RANGES.items():
        value = getattr(policy, field)
        if value is not None:
            parts.append(f"{RULE_LABELS[field].capitalize()}: {value} {unit}")
    return parts


def described(queryset) -> list[BackupPolicy]:
    """Policies with `schedule_text` and `retention_text` set, for read-only display."""
    rows = list(queryset)
    for policy in rows:
        policy.schedule_text = describe_schedule(policy)
        policy.retention_text = describe_retention(policy)
    return rows
