import logging
import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from backup.engine import EngineError
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import INTERNAL_ERROR, LOST_CODES, WORKER_LOST, JobFailed, describe
from backup.jobs.locks import Subject
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler
from backup.notifications.models import Notification
from backup.notifications.services import notify
from backup.tenancy.access import subscriptions_for
from backup.tenancy.models import Subscription

from . import copies
from .models import Vault
from .regions import REGIONS

log = logging.getLogger(__name__)

# Sent once a vault turned Active (argument: vault), so the apps above give it what a new vault comes with
# (the vms app: its DefaultPolicy) when it is created rather than when a page first shows it.
vault_activated = Signal()

MAX_VAULTS_PER_SUBSCRIPTION = 25
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
NAME_CLASH = "A backup vault named '{name}' already exists in this subscription."
STEP_INITIALISE_STORE = "Initialise the vault's storage"
REDUNDANCY_LOCKED_MESSAGE = (
    "The storage redundancy can no longer be changed: items are already registered with this vault, "
    "and their backup data is kept with the redundancy chosen when the first one was registered."
)


def validate_vault_name(subscription, name: str) -> str:
    name = (name or "").strip()
    if not 2 <= len(name) <= 50:
        raise ValidationError({"name": "The vault name must be between 2 and 50 characters long."})
    if not NAME_PATTERN.match(name):
        raise ValidationError(
            {"name": "The vault name must start with a letter and contain only letters, digits and hyphens."}
        )
    if subscription is not None and _name_taken(subscription, name):
        raise ValidationError({"name": NAME_CLASH.format(name=name)})
    return name


def _name_taken(subscription, name: str) -> bool:
    return Vault.objects.filter(subscription=subscription, name__iexact=name).exists()


def create_vault(*, user, subscription, name: str, region: str) -> Vault:
    """Record the vault as Creating with a Create Vault job that provisions it.

    The job is recorded with the vault and queued once both are committed; with the broker down it waits
    unclaimed and the requeue beat task sends it later, so the request never fails because of the queue.
    """
    if subscription is None or not subscriptions_for(user).filter(pk=subscription.pk).exists():
        raise ValidationError({"subscription": "Choose one of your subscriptions."})
    name = validate_vault_name(subscription, name)
    if region not in REGIONS:
        raise ValidationError({"region": "Choose one of the listed regions."})
    try:
        with transaction.atomic():
            # Parallel creations in one subscription queue here, so the count cannot pass the limit between them.
            Subscription.objects.select_for_update().filter(pk=subscription.pk).first()
            if Vault.objects.filter(subscription=subscription).count() >= MAX_VAULTS_PER_SUBSCRIPTION:
                limit = MAX_VAULTS_PER_SUBSCRIPTION
                message = f"This subscription already has {limit} backup vaults, the most allowed."
                raise ValidationError({"subscription": message})
            vault = Vault.objects.create(
                subscription=subscription,
                name=name,
                region=region,
                created_by=user,
                primary_location=copies.location_of(region),
            )
            # In the transaction: once it commits a worker may finish at once, and its "Successfully created"
            # must not be overwritten by this toast.
            _notify_creation(vault, Notification.Level.PROGRESS, f"Creating backup vault '{vault.name}'…")
            start_provisioning(vault)
    except IntegrityError:
        # Another request created the same name between the check above and this insert.
        if _name_taken(subscription, name):
            raise ValidationError({"name": NAME_CLASH.format(name=name)}) from None
        raise
    return vault


def start_provisioning(vault: Vault) -> Job:
    # No user on the job: the vault's own toasts (Creating…, then Successfully created or Failed) tell its
    # creator, and the job's would say the same thing twice.
    return jobs.start(
        subscription=vault.subscription,
        operation=Operation.CREATE_VAULT,
        subject=Subject.of_vault(vault),
        lock_key=locks.vault_create(vault.pk),
    )


def clean_up_creation(job: Job) -> None:
    """A Create Vault job that ended without completing: its vault is Failed, not Creating forever (a vault
    whose storage could not be made is Failed already, with that reason)."""
    if job.vault_id is not None:
        fail_creation(job.vault_id, WORKER_LOST if job.error_code in LOST_CODES else INTERNAL_ERROR)


@handler(Operation.CREATE_VAULT, clean_up=clean_up_creation)
def run_create_vault(ctx: JobContext) -> None:
    """The Create Vault job's work; the vault's status follows the job's (Active, or Failed with the reason)."""
    vault = Vault.objects.filter(pk=ctx.job.vault_id).first() if ctx.job.vault_id is not None else None
    if vault is None:
        raise JobFailed("The vault no longer exists.", code="VaultNotFound")
    if vault.status == Vault.Status.ACTIVE:
        return  # provisioned by an earlier attempt whose end was not recorded
    if vault.status != Vault.Status.CREATING:
        raise JobFailed(
            f"The vault is {vault.get_status_display().lower()}, no longer being created.",
            "Delete the vault, then create it again.",
            code="VaultNotCreating",
        )
    with ctx.step(STEP_INITIALISE_STORE):
        reason = provision_vault(vault.pk)
        if reason:
            raise JobFailed(reason, "Delete the vault, then create it again.", code="VaultStorageNotInitialised")
    ctx.show({"Vault": vault.name})


def provision_vault(vault_id: int) -> str | None:
    """Create and initialise the vault's store folder, then mark it Active; safe to run twice.
    Returns why the storage could not be initialised (the vault is then Failed), or None."""
    vault = Vault.objects.filter(pk=vault_id).first()
    if vault is None or vault.status != Vault.Status.CREATING:
        return None
    try:
        copies.init_primary(vault)
        copies.ensure_secondary(vault)
    except Exception as exc:
        log.exception("provisioning vault %s failed", vault_id)
        reason = f"The vault's storage could not be initialised: {describe(exc)}."
        fail_creation(vault_id, reason)
        return reason
    # One transaction: whoever sees the vault Active also sees what it comes with and its toast.
    with transaction.atomic():
        if Vault.objects.filter(pk=vault_id, status=Vault.Status.CREATING).update(status=Vault.Status.ACTIVE):
            vault.status = Vault.Status.ACTIVE
            vault_activated.send(sender=Vault, vault=vault)
            _notify_creation(vault, Notification.Level.SUCCESS, f"Successfully created backup vault '{vault.name}'")
    return None


def fail_creation(vault_id: int, reason: str) -> None:
    if Vault.objects.filter(pk=vault_id, status=Vault.Status.CREATING).update(
        status=Vault.Status.FAILED, status_reason=reason
    ):
        vault = Vault.objects.get(pk=vault_id)
        _notify_creation(vault, Notification.Level.ERROR, f"Failed to create backup vault '{vault.name}'", reason)


def set_redundancy(vault: Vault, redundancy: str) -> Vault:
    if redundancy not in Vault.Redundancy.values:
        raise ValidationError({"redundancy": "Choose Geo-redundant or Locally redundant."})
    if vault.redundancy_locked and redundancy != vault.redundancy:
        raise ValidationError({"redundancy": REDUNDANCY_LOCKED_MESSAGE})
    vault.redundancy = redundancy
    if vault.status == Vault.Status.ACTIVE:
        try:
            copies.ensure_secondary(vault) if redundancy == Vault.Redundancy.GEO else copies.drop_secondary(vault)
        except (EngineError, OSError) as exc:
            raise ValidationError(
                {"redundancy": f"The copy in the paired region could not be created: {describe(exc)}."}
            ) from None
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
