"""Managing protection: Stop Protection (keeping or deleting the backup data), Delete Backup Data, resuming
protection, Unregister, and deleting a vault. Each is a job with the product's operation name.

- Stop Protection keeps the data: the item reads "Protection stopped", scheduled and on-demand backups skip
  it, its recovery points stay restorable (and billed). With "Delete associated backup data" the same job
  then deletes the data: the RecoveryPoint rows and the ProtectedItem row go first, then the manifests
  (engine.delete_item), and a Garbage Collection job of the vault frees the chunks nothing references any more.
- Delete Backup Data does the second half later, for an item whose protection is stopped.
- Soft delete (on by default, per vault): deleting the data keeps it instead, every row and manifest, with an
  engine hold until the purge date (now + the vault's period); the item reads "Soft deleted - purge on DATE".
  UNDELETE returns it to "Protection stopped" with every point restorable; beat's purge starts a Delete Backup
  Data job (params purge=True) for each item whose date has passed, which deletes it for good.
- An immutable vault refuses deleting data that has not expired (services/reductions.py).
- Resume is PROTECT again with a policy (protection.start_protection): the kept points stay.
- Unregister removes the backup extension and the registration of an item with no protection and no data.
- Delete Vault is refused while anything is left; otherwise the vault reads Deleting until its job removed
  the store folder and the rows.

Stop Protection, Delete Backup Data and Unregister lock the machine (`vm:<id>`), like backups do.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backup import engine
from backup.fabric import agents
from backup.guard import services as guard
from backup.guard.models import GuardedOperation
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed, Refused, describe
from backup.jobs.locks import Subject
from backup.jobs.models import Job, JobStatus, Operation
from backup.jobs.registry import handler
from backup.lists import natural_key
from backup.vaults.models import Vault

from ..models import BackupPolicy, ProtectedItem, RecoveryPoint, RegisteredItem, VirtualMachine
from . import discovery, gc, policies, protection, reductions
from .stores import open_vault_store

ALREADY_STOPPED = ("Protection of '{name}' is already stopped - Its backup data is kept. To delete it, use DELETE "
                   "(Delete backup data).")
NOT_STOPPED = ("The backup data of '{name}' can be deleted only after its protection is stopped - Use STOP "
               "PROTECTION with 'Delete associated backup data'.")
NOT_STOPPED_RESUME = "Protection of '{name}' is not stopped; there is nothing to resume."
VM_GONE_RESUME = "The virtual machine '{name}' no longer exists, so its protection cannot be resumed."
ITEM_GONE = "The protected item no longer exists."
VAULT_NOT_EMPTY = (
    "The vault cannot be deleted while it still holds {what}. Stop protection with 'Delete associated backup "
    "data' for every protected item, then unregister every registered item, and try again."
)
VAULT_SOFT_DELETED = (
    "The vault cannot be deleted while it holds soft-deleted backup data ({what}). Soft-deleted items are "
    "purged for good on their purge date; UNDELETE them and delete their data again with soft delete turned off, "
    "or wait until then, and try again."
)
ALREADY_SOFT_DELETED = ("The backup data of '{name}' is already soft deleted - It is purged on {date}; UNDELETE "
                        "it to restore from it again.")
NOT_SOFT_DELETED = "The backup data of '{name}' is not soft deleted; there is nothing to undelete."
SOFT_DELETED_RESUME = "The backup data of '{name}' is soft deleted - UNDELETE it first, then resume its protection."
VAULT_BUSY = "The vault cannot be deleted while {count} operation{s} still run{verb} in it ({names})."
MAX_REASON = 500

STEP_STOP = "Stop protection"
STEP_DELETE_DATA = "Delete backup data"
STEP_UNREGISTER = "Remove the Azure Recovery Services extension"
STEP_CHECK_EMPTY = "Check the vault is empty"
STEP_DELETE_STORE = "Delete the vault's storage"
STEP_DELETE_VAULT = "Delete the vault"


def _job(item: ProtectedItem, operation: str, *, user, params: dict) -> Job:
    return jobs.start(subscription=item.vault.subscription, operation=operation,
                      subject=Subject.of_item(item),
                      lock_key=locks.protected_item(item.vm_id, item.pk), user=user, params=params)


def _clean_text(value: str, field: str) -> str:
    value = (value or "").strip()
    if len(value) > MAX_REASON:
        raise ValidationError({field: f"At most {MAX_REASON} characters."})
    return value


# -- Stop protection / delete backup data ----------------------------------------------------------
def _approved(item: ProtectedItem, user, approval) -> None:
    """Deleting backup data may need a resource guard's approved request (raises Refused until there is one)."""
    guard.require_approval(user, item.vault.subscription_id, GuardedOperation.DELETE_BACKUP_DATA,
                           f"protected-item:{item.pk}", target_name=item.vm_name, vault_id=item.vault_id,
                           request_id=approval)


def stop_protection(item: ProtectedItem, *, user=None, delete_data: bool = False, reason: str = "",
                    comment: str = "", approval: int | str | None = None) -> Job:
    """STOP PROTECTION: one Stop Protection job (with a second sub-task when the data goes too)."""
    reason, comment = _clean_text(reason, "reason"), _clean_text(comment, "comment")
    if item.status == ProtectedItem.Status.STOPPED:
        if delete_data or item.is_soft_deleted:
            return delete_backup_data(item, user=user, reason=reason, comment=comment, approval=approval)
        raise ValidationError({"__all__": ALREADY_STOPPED.format(name=item.vm_name)})
    if delete_data:
        reductions.refuse_data_deletion(item)
        _approved(item, user, approval)
    return _job(item, Operation.STOP_PROTECTION, user=user,
                params={"protected_item_id": item.pk, "delete_data": bool(delete_data), "reason": reason,
                        "comment": comment})


def delete_backup_data(item: ProtectedItem, *, user=None, reason: str = "", comment: str = "",
                       approval: int | str | None = None) -> Job:
    """DELETE on a Protection-stopped item: a Delete Backup Data job."""
    reason, comment = _clean_text(reason, "reason"), _clean_text(comment, "comment")
    if item.status != ProtectedItem.Status.STOPPED:
        raise ValidationError({"__all__": NOT_STOPPED.format(name=item.vm_name)})
    if item.is_soft_deleted:
        raise ValidationError({"__all__": ALREADY_SOFT_DELETED.format(name=item.vm_name, date=_day(item.purge_at))})
    reductions.refuse_data_deletion(item)
    _approved(item, user, approval)
    return _job(item, Operation.DELETE_BACKUP_DATA, user=user,
                params={"protected_item_id": item.pk, "reason": reason, "comment": comment})


def resume_protection(item: ProtectedItem, policy: BackupPolicy | None, *, user=None) -> Job:
    """Protect a stopped item again (a Configure Protection job); its recovery points are kept."""
    if item.status != ProtectedItem.Status.STOPPED:
        raise ValidationError({"__all__": NOT_STOPPED_RESUME.format(name=item.vm_name)})
    if item.is_soft_deleted:
        raise ValidationError({"__all__": SOFT_DELETED_RESUME.format(name=item.vm_name)})
    if item.vm_id is None:
        raise ValidationError({"__all__": VM_GONE_RESUME.format(name=item.vm_name)})
    return protection.start_protection(item.vault, [item.vm_id], policy, user)[0]


@handler(Operation.STOP_PROTECTION)
def run_stop_protection(ctx: JobContext) -> None:
    params = ctx.job.params
    with ctx.step(STEP_STOP):
        updated = ProtectedItem.objects.filter(pk=params["protected_item_id"]).exclude(
            status=ProtectedItem.Status.STOPPED).update(status=ProtectedItem.Status.STOPPED, stopped_at=timezone.now())
        if not updated and not ProtectedItem.objects.filter(pk=params["protected_item_id"]).exists():
            raise JobFailed(ITEM_GONE, "Refresh the protected items list.", code="ItemNotFound")
    ctx.show({"Backup data": "deleted" if params.get("delete_data") else "retained"})
    if params.get("delete_data"):
        _delete_data_step(ctx)


@handler(Operation.DELETE_BACKUP_DATA)
def run_delete_backup_data(ctx: JobContext) -> None:
    _delete_data_step(ctx)


def _delete_data_step(ctx: JobContext) -> None:
    purge = bool(ctx.job.params.get("purge"))
    with ctx.step(STEP_DELETE_DATA):
        item = ProtectedItem.objects.select_related("vault__subscription").filter(
            pk=ctx.job.params["protected_item_id"]).first()
        if item is None:
            raise JobFailed(ITEM_GONE, "Refresh the protected items list.", code="ItemNotFound")
        if item.status != ProtectedItem.Status.STOPPED:
            raise JobFailed(NOT_STOPPED.format(name=item.vm_name), "Stop the protection first.", code="NotStopped")
        if purge:
            if item.purge_at is None or item.purge_at > timezone.now():
                ctx.show({"Backup data": "kept (undeleted or not yet due)"})
                return
            removed = delete_item_data(item)
        elif item.is_soft_deleted:
            raise JobFailed(ALREADY_SOFT_DELETED.format(name=item.vm_name, date=_day(item.purge_at)),
                            "UNDELETE the item to use its recovery points again.", code="AlreadySoftDeleted")
        else:
            try:
                reductions.refuse_data_deletion(item)  # the vault may have become immutable since the request
            except Refused as error:
                raise JobFailed(str(error.message), "Disable the vault's immutability first.",
                                code="VaultImmutable") from None
            if item.vault.soft_delete_on:
                soft_delete_item_data(item)
                ctx.show({"Backup data": f"soft deleted, purge on {_day(item.purge_at)}",
                          "Recovery points soft deleted": item.recovery_points.count()})
                return
            removed = delete_item_data(item)
    ctx.show({"Recovery points deleted": removed})
    gc.start_gc(item.vault, user=ctx.job.created_by)


def _day(moment) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "-"


def soft_delete_item_data(item: ProtectedItem, now=None) -> ProtectedItem:
    """Keep the item's data (rows and manifests) until the vault's period has passed: the engine holds the
    item first, so no prune or delete removes its manifests even if the portal's state were lost."""
    now = now or timezone.now()
    purge_at = now + timedelta(days=item.vault.soft_delete_days)
    engine.hold_item(open_vault_store(item.vault), item.store_item_id, purge_at)
    ProtectedItem.objects.filter(pk=item.pk).update(soft_deleted_at=now, purge_at=purge_at)
    item.soft_deleted_at, item.purge_at = now, purge_at
    return item


def undelete(item: ProtectedItem, *, user=None) -> ProtectedItem:
    """UNDELETE: the item is "Protection stopped" again, every point restorable."""
    if not item.is_soft_deleted:
        raise ValidationError({"__all__": NOT_SOFT_DELETED.format(name=item.vm_name)})
    with transaction.atomic():
        if not ProtectedItem.objects.filter(pk=item.pk, purge_at__isnull=False).update(soft_deleted_at=None,
                                                                                       purge_at=None):
            raise ValidationError({"__all__": NOT_SOFT_DELETED.format(name=item.vm_name)})
    # The hold goes after the row: a crash in between leaves a hold that only expires, never lost data.
    engine.release_item(open_vault_store(item.vault), item.store_item_id)
    item.soft_deleted_at = item.purge_at = None
    return item


def purge_due_items(now=None) -> list[Job]:
    """Beat: a Delete Backup Data job (purge) for every soft-deleted item whose purge date has passed."""
    due = ProtectedItem.objects.filter(purge_at__lte=now or timezone.now()).select_related("vault__subscription")
    return [_job(item, Operation.DELETE_BACKUP_DATA, user=None,
                 params={"protected_item_id": item.pk, "purge": True, "reason": "Soft delete period ended",
                         "comment": ""}) for item in due.order_by("pk")]


def delete_item_data(item: ProtectedItem) -> int:
    """Remove an item's recovery points (rows, then manifests) and the item itself. Returns the points removed."""
    store = open_vault_store(item.vault)
    if item.is_soft_deleted:
        engine.release_item(store, item.store_item_id)
    with transaction.atomic():
        points = RecoveryPoint.objects.filter(Q(protected_item=item) | Q(registered_item_id=item.registered_item_id),
                                              vault_id=item.vault_id)
        count = points.count()
        points.delete()
        item.delete()
    # Manifests go after the rows: a crash in between leaves manifests no row shows, which the next delete of
    # the item (or an operator) removes; GC keeps their chunks until then.
    engine.delete_item(store, item.store_item_id)
    return count


# -- Unregister ----------------------------------------------------------------------------------------
def unregister_problem(item: RegisteredItem) -> str | None:
    """Why the item cannot be unregistered now, or None."""
    if item.status not in (RegisteredItem.Status.REGISTERED, RegisteredItem.Status.FAILED):
        return f"'{item.vm_name}' is {item.get_status_display().lower()}; only registered items can be unregistered."
    current = ProtectedItem.objects.filter(registered_item=item).select_related("policy").first()
    if current is not None and current.status != ProtectedItem.Status.STOPPED:
        policy = current.policy.name if current.policy else "-"
        return (f"'{item.vm_name}' is protected by the policy '{policy}' - Stop its protection with 'Delete "
                "associated backup data' before unregistering it.")
    points = RecoveryPoint.objects.filter(Q(registered_item=item) | Q(protected_item__registered_item=item)).count()
    if current is not None or points:
        return (f"'{item.vm_name}' still has backup data ({points} recovery point{'s' if points != 1 else ''}) - "
                "Delete its backup data (DELETE on the PROTECTED ITEMS tab) before unregistering it.")
    return None


def unregistrable_items(vault: Vault) -> list[tuple[RegisteredItem, str | None]]:
    items = sorted(vault.registered_items.exclude(status=RegisteredItem.Status.NOT_REGISTERED),
                   key=lambda item: (natural_key(item.vm_name), natural_key(item.cloud_service_name)))
    return [(item, unregister_problem(item)) for item in items]


def start_unregister(item: RegisteredItem, *, user=None) -> Job:
    problem = unregister_problem(item)
    if problem:
        raise ValidationError({"__all__": problem})
    with transaction.atomic():
        job = jobs.start(subscription=item.vault.subscription, operation=Operation.UNREGISTER,
                         subject=Subject.of_item(item),
                         lock_key=locks.registered_item(item.vm_id, item.pk), user=user,
                         params={"registered_item_id": item.pk, "previous_status": item.status})
        if job.status == JobStatus.IN_PROGRESS:
            RegisteredItem.objects.filter(pk=item.pk).update(status=RegisteredItem.Status.UNREGISTERING)
    return job


@handler(Operation.UNREGISTER)
def run_unregister(ctx: JobContext) -> None:
    item = RegisteredItem.objects.select_related("vault", "vm").filter(pk=ctx.job.params["registered_item_id"]).first()
    if item is None:
        return  # already gone: nothing left to do
    previous = ctx.job.params.get("previous_status") or RegisteredItem.Status.REGISTERED
    try:
        with ctx.step(STEP_UNREGISTER):
            item.status = previous
            problem = unregister_problem(item)
            if problem:
                raise JobFailed(problem, "Remove the item's protection and backup data first.", code="ItemInUse")
            if item.vm is not None:
                agents.remove_backup_extension(item.vm.spec())
            with transaction.atomic():
                if item.vm_id is not None:
                    VirtualMachine.objects.filter(pk=item.vm_id).update(backup_extension_installed=False)
                item.delete()
    except BaseException:
        RegisteredItem.objects.filter(pk=item.pk, status=RegisteredItem.Status.UNREGISTERING).update(status=previous)
        raise


# -- Delete the vault ---------------------------------------------------------------------------------
def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def vault_contents(vault: Vault) -> list[str]:
    """What stops the vault from being deleted, e.g. ["2 registered items (web01, db01)", "3 recovery points"]."""
    parts = []
    registered = list(discovery.registered_items(vault).order_by("vm_name").values_list("vm_name", flat=True))
    if registered:
        names = ", ".join(registered[:10]) + (", ..." if len(registered) > 10 else "")
        parts.append(f"{_plural(len(registered), 'registered item')} ({names})")
    protected = vault.protected_items.count()
    if protected:
        parts.append(_plural(protected, "protected item"))
    points = vault.recovery_points.count()
    if points:
        parts.append(_plural(points, "recovery point"))
    return parts


def soft_deleted_contents(vault: Vault) -> str:
    """The vault's soft-deleted data, e.g. "2 soft-deleted items (web01, db01), the last purged on 2026-12-15"."""
    items = list(vault.protected_items.filter(purge_at__isnull=False).order_by("purge_at"))
    if not items:
        return ""
    names = ", ".join(i.vm_name for i in items[:10]) + (", ..." if len(items) > 10 else "")
    return f"{_plural(len(items), 'soft-deleted item')} ({names}), the last purged on {_day(items[-1].purge_at)}"


def vault_deletion_problem(vault: Vault, *, running_job: Job | None = None) -> str | None:
    """Why the vault cannot be deleted now (the DELETE command's message), or None."""
    if vault.status == Vault.Status.DELETING and running_job is None:
        return "The vault is already being deleted."
    if vault.status == Vault.Status.CREATING:
        return "The vault is still being created; wait until it is Active."
    soft_deleted = soft_deleted_contents(vault)
    if soft_deleted:
        return VAULT_SOFT_DELETED.format(what=soft_deleted)
    contents = vault_contents(vault)
    if contents:
        return VAULT_NOT_EMPTY.format(what=", ".join(contents))
    busy = Job.objects.active().filter(vault_id=vault.pk)
    if running_job is not None:
        busy = busy.exclude(pk=running_job.pk)
    names = sorted({job.get_operation_display() for job in busy})
    if names:
        count = busy.count()
        return VAULT_BUSY.format(count=count, s="" if count == 1 else "s", verb="s" if count == 1 else "",
                                 names=", ".join(names))
    return None


def start_delete_vault(vault: Vault, *, user=None, reason: str = "", approval: int | str | None = None) -> Job:
    reason = _clean_text(reason, "reason")
    problem = vault_deletion_problem(vault)
    if problem:
        raise ValidationError({"__all__": problem})
    guard.require_vault_approval(user, vault, GuardedOperation.DELETE_VAULT, request_id=approval)
    with transaction.atomic():
        job = jobs.start(subscription=vault.subscription, operation=Operation.DELETE_VAULT,
                         subject=Subject.of_vault(vault), lock_key=locks.vault_delete(vault.pk), user=user,
                         params={"reason": reason, "previous_status": vault.status})
        if job.status == JobStatus.IN_PROGRESS:
            Vault.objects.filter(pk=vault.pk).update(status=Vault.Status.DELETING, status_reason="")
    return job


@handler(Operation.DELETE_VAULT)
def run_delete_vault(ctx: JobContext) -> None:
    vault = Vault.objects.filter(pk=ctx.job.vault_id).first() if ctx.job.vault_id is not None else None
    if vault is None:
        return  # deleted by an earlier attempt
    previous = ctx.job.params.get("previous_status") or Vault.Status.ACTIVE
    try:
        with ctx.step(STEP_CHECK_EMPTY):
            problem = vault_deletion_problem(vault, running_job=ctx.job)
            if problem:
                raise JobFailed(problem, "Empty the vault, then delete it again.", code="VaultNotEmpty")
    except BaseException:
        Vault.objects.filter(pk=vault.pk, status=Vault.Status.DELETING).update(status=previous)
        raise
    try:
        with ctx.step(STEP_DELETE_STORE):
            if vault.store_path.exists():
                shutil.rmtree(vault.store_path)
    except OSError as error:
        Vault.objects.filter(pk=vault.pk).update(status=Vault.Status.FAILED,
                                                  status_reason=f"Its storage could not be deleted: {describe(error)}")
        raise JobFailed(f"The vault's storage could not be deleted: {describe(error)}", "Delete the vault again.",
                        code="VaultStorageNotDeleted") from None
    with ctx.step(STEP_DELETE_VAULT):
        for policy in vault.policies.all():
            policies.delete_policy(policy)  # also removes its schedule
        vault.delete()
    ctx.show({"Vault": vault.name})
