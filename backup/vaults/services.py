import logging
import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from backup.jobs.errors import describe
from backup.notifications.models import Notification
from backup.notifications.services import notify
from backup.tenancy.services import subscriptions_for

from .models import Vault
from .regions import REGIONS

log = logging.getLogger(__name__)

MAX_VAULTS_PER_SUBSCRIPTION = 25
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
REDUNDANCY_LOCKED_MESSAGE = (
    "The storage redundancy can no longer be changed: items are already registered with this vault, "
    "and their backup data is kept with the redundancy chosen when the first one was registered."
)


def get_vault_for_user(user, pk) -> Vault:
    try:
        return Vault.objects.for_user(user).select_related("subscription").get(pk=pk)
    except (Vault.DoesNotExist, ValueError, TypeError):
        raise Http404("No such vault.") from None


def validate_vault_name(subscription, name: str) -> str:
    name = (name or "").strip()
    if not 2 <= len(name) <= 50:
        raise ValidationError({"name": "The vault name must be between 2 and 50 characters long."})
    if not NAME_PATTERN.match(name):
        raise ValidationError(
            {"name": "The vault name must start with a letter and contain only letters, digits and hyphens."}
        )
    if subscription is not None and Vault.objects.filter(subscription=subscription, name__iexact=name).exists():
        raise ValidationError({"name": f"A backup vault named '{name}' already exists in this subscription."})
    return name


def create_vault(*, user, subscription, name: str, region: str) -> Vault:
    """Record the vault as Creating and queue its provisioning once the row is committed."""
    if subscription is None or not subscriptions_for(user).filter(pk=subscription.pk).exists():
        raise ValidationError({"subscription": "Choose one of your subscriptions."})
    name = validate_vault_name(subscription, name)
    if region not in REGIONS:
        raise ValidationError({"region": "Choose one of the listed regions."})
    if Vault.objects.filter(subscription=subscription).count() >= MAX_VAULTS_PER_SUBSCRIPTION:
        limit = MAX_VAULTS_PER_SUBSCRIPTION
        message = f"This subscription already has {limit} backup vaults, the most allowed."
        raise ValidationError({"subscription": message})
    with transaction.atomic():
        vault = Vault.objects.create(subscription=subscription, name=name, region=region, created_by=user)
        from . import tasks  # tasks import this module

        transaction.on_commit(lambda: tasks.provision_vault.delay(vault.pk))
    _notify_creation(vault, Notification.Level.PROGRESS, f"Creating backup vault '{vault.name}'…")
    return vault


def provision_vault(vault_id: int) -> None:
    """Create and initialise the vault's store folder, then mark it Active; safe to run twice."""
    from backup.engine import Store

    vault = Vault.objects.filter(pk=vault_id).first()
    if vault is None or vault.status != Vault.Status.CREATING:
        return
    try:
        Store.init(vault.store_path)
    except Exception as exc:
        log.exception("provisioning vault %s failed", vault_id)
        reason = f"The vault's storage could not be initialised: {describe(exc)}"
        Vault.objects.filter(pk=vault_id, status=Vault.Status.CREATING).update(
            status=Vault.Status.FAILED, status_reason=reason
        )
        _notify_creation(vault, Notification.Level.ERROR, f"Failed to create backup vault '{vault.name}'", reason)
        return
    if Vault.objects.filter(pk=vault_id, status=Vault.Status.CREATING).update(status=Vault.Status.ACTIVE):
        _notify_creation(vault, Notification.Level.SUCCESS, f"Successfully created backup vault '{vault.name}'")


def set_redundancy(vault: Vault, redundancy: str) -> Vault:
    if redundancy not in Vault.Redundancy.values:
        raise ValidationError({"redundancy": "Choose Geo-redundant or Locally redundant."})
    if vault.redundancy_locked and redundancy != vault.redundancy:
        raise ValidationError({"redundancy": REDUNDANCY_LOCKED_MESSAGE})
    vault.redundancy = redundancy
    vault.save(update_fields=["redundancy"])
    return vault


def lock_redundancy(vault: Vault) -> None:
    """Called when the first item is registered with the vault."""
    Vault.objects.filter(pk=vault.pk, redundancy_locked_at__isnull=True).update(redundancy_locked_at=timezone.now())


def _notify_creation(vault: Vault, level: str, title: str, message: str = "") -> None:
    if vault.created_by is None:
        return
    notify(
        vault.created_by,
        title,
        message=message,
        level=level,
        key=f"vault-create-{vault.pk}",
        subscription=vault.subscription,
        link_url=reverse("vault-quickstart", args=[vault.pk]),
        link_label="OPEN",
    )
