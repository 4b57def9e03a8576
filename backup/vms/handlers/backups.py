"""Job handlers of backups: Backup (cancellable), Prune and Garbage Collection; see backup/jobs/registry.py.

A Backup job's sub-tasks: Take Snapshot -> Transfer data to Backup vault -> Create recovery point, and always
Delete snapshot at the end (also after a failure or a cancel). Cancelling stops the transfer at the next
chunk boundary; the engine commits nothing, so no half recovery point is ever visible. Once the recovery
point exists the job ends Completed: a snapshot that could not be deleted is a warning in its details (the
next backup removes leftover snapshots), and a worker killed after the store committed the point has it
adopted by the reaper (adopt_lost_backup).
"""

import logging

from backup import engine
from backup.jobs.context import JobContext
from backup.jobs.errors import JobCancelled
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler

from ..services import backup as backups
from ..services import gc, retention

log = logging.getLogger(__name__)


def adopt_lost_backup(job: Job) -> str | None:
    """The reaper failed this Backup job: if the store had committed its point, record it and have the job
    end Completed with a warning instead; otherwise the item reads as failing, as after any failed backup."""
    point = backups.adopt_committed_point(job)
    if point is None:
        if job.params.get("protected_item_id"):
            backups.mark_backup_failed(job.params["protected_item_id"])
        return None
    Job.objects.filter(pk=job.pk).update(result=job.result | {"recovery_point": point.point_id})
    if point.protected_item is not None:
        retention.start_prune(point.protected_item)
    return backups.STOPPED_AFTER_POINT


@handler(Operation.BACKUP, cancellable=True, on_lost=adopt_lost_backup)
def back_up_vm(ctx: JobContext) -> None:
    item_id = ctx.job.params["protected_item_id"]
    try:
        _back_up(ctx, item_id)
    except JobCancelled:
        raise
    except BaseException:
        backups.mark_backup_failed(item_id)
        raise


def _back_up(ctx: JobContext, item_id: int) -> None:
    with ctx.step(backups.STEP_SNAPSHOT):
        target = backups.load_target(item_id)
        store = backups.open_store(target.item)
        snapshot = backups.take_vm_snapshot(target)
        ctx.set_result(consistency=snapshot.consistency)
    point = None
    try:
        with ctx.step(backups.STEP_TRANSFER):
            try:
                manifest = backups.transfer(store, target, snapshot, ctx.job, progress=ctx.progress,
                                            cancel=ctx.cancel_requested)
            except engine.Cancelled:
                raise JobCancelled() from None
            ctx.set_result(backup_size_bytes=manifest.bytes_transferred, data_read_bytes=manifest.bytes_read)
        with ctx.step(backups.STEP_POINT):
            ctx.stop_cancelling()  # the store holds the point: cancelling cannot take it back
            point = backups.record_point(target, manifest, ctx.job)
            ctx.set_result(recovery_point=point.point_id)
    finally:
        try:
            with ctx.step(backups.STEP_DELETE_SNAPSHOT):
                snapshot.delete()
        except Exception:
            if point is None:
                raise
            log.warning("job %s: the snapshot could not be deleted", ctx.job.pk, exc_info=True)
            ctx.set_result(warning=backups.SNAPSHOT_NOT_DELETED)
    retention.start_prune(target.item)


@handler(Operation.PRUNE)
def prune_points(ctx: JobContext) -> None:
    with ctx.step("Expire recovery points"):
        removed = retention.prune_item(ctx.job.params["protected_item_id"])
    ctx.set_result(points_removed=len(removed))


@handler(Operation.GARBAGE_COLLECTION)
def collect_garbage(ctx: JobContext) -> None:
    # First the points the store holds but the portal does not (a Backup killed between committing and
    # recording): adopted, they show in the portal and retention expires them; GC would keep them anyway.
    with ctx.step("Reconcile recovery points"):
        adopted = backups.adopt_orphan_manifests(ctx.job.vault_id)
    with ctx.step("Free unreferenced data"):
        report = gc.collect_vault_garbage(ctx.job.vault_id)
    ctx.set_result(chunks_removed=report.chunks_removed, bytes_freed=report.bytes_freed,
                   chunks_kept=report.chunks_kept, recovery_points_adopted=len(adopted))
