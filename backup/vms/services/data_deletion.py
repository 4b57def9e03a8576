"""Stop Protection (keeping or deleting the backup data), Delete Backup Data of a stopped item, and resuming
protection; deleting the data soft deletes it where the vault has soft delete on (soft_delete.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backup import engine
from backup.guard import services as guard
from backup.guard.models import GuardedOperation
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed, Refused
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler

from ..models import BackupPolicy, ProtectedItem, RecoveryPoint
from . import gc, protection, reductions, replication
from .item_jobs import clean_text, day_text, item_job
from .soft_delete import ALREADY_SOFT_DELETED, soft_delete_item_data
from .stores import open_vault_store

ALREADY_STOPPED = (
    "Protection of '{name}' is already stopped - Its backup data is kept. To delete it, use DELETE "
    "(Delete backup data)."
)
NOT_STOPPED = (
    "The backup data of '{name}' can be deleted only after its protection is stopped - Use STOP "
    "PROTECTION with 'Delete associated backup data'."
)
NOT_STOPPED_RESUME = "Protection of '{name}' is not stopped; there is nothing to resume."
VM_GONE_RESUME = "The virtual machine '{name}' no longer exists, so its protection cannot be resumed."
ITEM_GONE = "The protected item no longer exists."
SOFT_DELETED_RESUME = "The backup data of '{name}' is soft deleted - UNDELETE it first, then resume its protection."

STEP_STOP = "Stop protection"
STEP_DELETE_DATA = "Delete backup data"


def _approved(item: ProtectedItem, user, approval) -> None:
    """Deleting backup data may need a resource guard's approved request (raises Refused until there is one)."""
    guard.require_approval(
        user,
        item.vault.subscription_id,
        GuardedOperation.DELETE_BACKUP_DATA,
        f"protected-item:{item.pk}",
        target_name=item.vm_name,
        vault_id=item.vault_id,
        request_id=approval,
    )


def stop_protection(
    item: ProtectedItem,
    *,
    user=None,
    delete_data: bool = False,
    reason: str = "",
    comment: str = "",
    approval: int | str | None = None,
) -> Job:
    """STOP PROTECTION: one Stop Protection job (with a second sub-task when the data goes too)."""
    reason, comment = clean_text(reason, "reason"), clean_text(comment, "comment")
    if item.status == ProtectedItem.Status.STOPPED:
        if delete_data or item.is_soft_deleted:
            return delete_backup_data(item, user=user, reason=reason, comment=comment, approval=approval)
        raise ValidationError({"__all__": ALREADY_STOPPED.format(name=item.vm_name)})
    if delete_data:
        reductions.refuse_data_deletion(item)
        _approved(item, user, approval)
    return item_job(
        item,
        Operation.STOP_PROTECTION,
        user=user,
        params={"protected_item_id": item.pk, "delete_data": bool(delete_data), "reason": reason, "comment": comment},
    )


def delete_backup_data(
    item: ProtectedItem, *, user=None, reason: str = "", comment: str = "", approval: int | str | None = None
) -> Job:
    """DELETE on a Protection-stopped item: a Delete Backup Data job."""
    reason, comment = clean_text(reason, "reason"), clean_text(comment, "comment")
    if item.status != ProtectedItem.Status.STOPPED:
        raise ValidationError({"__all__": NOT_STOPPED.format(name=item.vm_name)})
    if item.is_soft_deleted:
        raise ValidationError({"__all__": ALREADY_SOFT_DELETED.format(name=item.vm_name, date=day_text(item.purge_at))})
    reductions.refuse_data_deletion(item)
    _approved(item, user, approval)
    return item_job(
        item,
        Operation.DELETE_BACKUP_DATA,
        user=user,
        params={"protected_item_id": item.pk, "reason": reason, "comment": comment},
    )


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
        updated = (
            ProtectedItem.objects.filter(pk=params["protected_item_id"])
            .exclude(status=ProtectedItem.Status.STOPPED)
            .update(status=ProtectedItem.Status.STOPPED, stopped_at=timezone.now())
        )
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
        item = (
            ProtectedItem.objects.select_related("vault__subscription")
            .filter(pk=ctx.job.params["protected_item_id"])
            .first()
        )
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
            raise JobFailed(
                ALREADY_SOFT_DELETED.format(name=item.vm_name, date=day_text(item.purge_at)),
                "UNDELETE the item to use its recovery points again.",
                code="AlreadySoftDeleted",
            )
        else:
            try:
                reductions.refuse_data_deletion(item)  # the vault may have become immutable since the request
            except Refused as error:
                raise JobFailed(
                    str(error.message), "Disable the vault's immutability first.", code="VaultImmutable"
                ) from None
            if item.vault.soft_delete_on:
                soft_delete_item_data(item)
                ctx.show(
                    {
                        "Backup data": f"soft deleted, purge on {day_text(item.purge_at)}",
                        "Recovery points soft deleted": item.recovery_points.count(),
                    }
                )
                return
            removed = delete_item_data(item)
    ctx.show({"Recovery points deleted": removed})
    gc.start_gc(item.vault, user=ctx.job.created_by)


def delete_item_data(item: ProtectedItem) -> int:
    """Remove an item's recovery points (rows, then manifests) and the item itself. Returns the points removed."""
    store = open_vault_store(item.vault)
    if item.is_soft_deleted:
        engine.release_item(store, item.store_item_id)
    with transaction.atomic():
        points = RecoveryPoint.objects.filter(
            Q(protected_item=item) | Q(registered_item_id=item.registered_item_id), vault_id=item.vault_id
        )
        point_ids = list(points.values_list("point_id", flat=True))
        points.delete()
        item.delete()
    # Manifests go after the rows: a crash in between leaves manifests no row shows, which the next delete of
    # the item (or an operator) removes; GC keeps their chunks until then.
    engine.delete_item(store, item.store_item_id)
    replication.defer_secondary_deletion(item.vault, point_ids)
    return len(point_ids)
