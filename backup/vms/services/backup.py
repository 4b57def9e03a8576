"""The Backup job (cancellable) and its clean-up, for both fabrics.

A Backup job's sub-tasks: Take Snapshot -> Transfer data to Backup vault -> Create recovery point, and always
Delete snapshot at the end (also after a failure or a cancel). Cancelling stops the transfer at the next
chunk boundary; the engine commits nothing, so no half recovery point is ever visible. Once the recovery
point exists the job ends Completed: a snapshot that could not be deleted is a warning in its details (the
next backup removes leftover snapshots), and a worker killed after the store committed the point has it
adopted by its clean-up (clean_up_backup).

A machine of a KVM host is backed up the same way: its point in time is a libvirt backup job with a new
checkpoint, taken through its host (kvm_backup), and its recovery point keeps the domain's XML for restore.
The simulated fabric's pieces are backup_targets', the store and points backup_points'; starting jobs is
backup_start's. Their names other code uses are importable from here too.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext

from django.template.defaultfilters import filesizeformat

from backup import engine
from backup.fabric.snapshots import Snapshot
from backup.jobs.context import JobContext
from backup.jobs.errors import LOST_CODES, JobCancelled, JobFailed
from backup.jobs.models import Job, JobStatus, Operation
from backup.jobs.registry import handler

from . import kvm_backup, replication, retention
from .backup_messages import (
    AGENT_MISSING,
    AGENT_MISSING_ACTION,
    PROTECTION_STOPPED,
    PROTECTION_STOPPED_ACTION,
    SNAPSHOT_TIMED_OUT,
    SNAPSHOT_TIMED_OUT_ACTION,
    STORE_FULL,
    STORE_FULL_ACTION,
    VAULT_UNAVAILABLE,
    VAULT_UNAVAILABLE_ACTION,
    VM_NO_LONGER_EXISTS,
    VM_NO_LONGER_EXISTS_ACTION,
)
from .backup_points import (
    adopt_committed_point,
    adopt_orphan_manifests,
    base_manifest,
    mark_backup_failed,
    open_store,
    point_id_for,
    record_point,
)
from .backup_start import back_up_now, run_scheduled_backups
from .backup_targets import BackupTarget, load_item, load_target, simulated_target, take_vm_snapshot

# The names other code and tests reach through this module (the job looks several of them up here, so a
# test's monkeypatch of one reaches the job).
__all__ = [
    "AGENT_MISSING",
    "AGENT_MISSING_ACTION",
    "PROTECTION_STOPPED",
    "PROTECTION_STOPPED_ACTION",
    "SNAPSHOT_TIMED_OUT",
    "SNAPSHOT_TIMED_OUT_ACTION",
    "STORE_FULL",
    "STORE_FULL_ACTION",
    "VAULT_UNAVAILABLE",
    "VAULT_UNAVAILABLE_ACTION",
    "VM_NO_LONGER_EXISTS",
    "VM_NO_LONGER_EXISTS_ACTION",
    "STEP_SNAPSHOT",
    "STEP_TRANSFER",
    "STEP_POINT",
    "STEP_DELETE_SNAPSHOT",
    "SNAPSHOT_NOT_DELETED",
    "STOPPED_AFTER_POINT",
    "adopt_committed_point",
    "adopt_orphan_manifests",
    "back_up_now",
    "back_up_vm",
    "base_manifest",
    "clean_up_backup",
    "load_target",
    "mark_backup_failed",
    "open_store",
    "point_id_for",
    "record_point",
    "run_scheduled_backups",
    "store_full_message",
    "take_vm_snapshot",
    "transfer",
]

log = logging.getLogger(__name__)

# Sub-task names, as the product shows them.
STEP_SNAPSHOT = "Take Snapshot"
STEP_TRANSFER = "Transfer data to Backup vault"
STEP_POINT = "Create recovery point"
STEP_DELETE_SNAPSHOT = "Delete snapshot"

# A Backup job whose recovery point exists ends Completed, whatever happened after; these say what.
SNAPSHOT_NOT_DELETED = (
    "The recovery point was created, but the snapshot of the virtual machine could not be deleted. "
    "The next backup of this machine removes it."
)
STOPPED_AFTER_POINT = (
    "The recovery point was created, but the job stopped before it finished (its worker was killed, restarted "
    "or lost the database), so the snapshot of the virtual machine may be left. The next backup removes it."
)


def transfer(
    store,
    target: BackupTarget | kvm_backup.KvmTarget,
    snapshot: Snapshot | kvm_backup.OpenSnapshot,
    job: Job,
    *,
    progress,
    cancel,
) -> engine.Manifest:
    try:
        return engine.backup_snapshot(
            store,
            item=target.item.store_item_id,
            point_id=point_id_for(job),
            snapshot=snapshot,
            time=snapshot.created_at,
            base=base_manifest(store, target.item),
            progress=progress,
            cancel=cancel,
        )
    except engine.StoreFull as full:
        raise JobFailed(store_full_message(full), STORE_FULL_ACTION, code="VaultStorageFull") from None
    except engine.StoreUnavailable:
        raise JobFailed(VAULT_UNAVAILABLE, VAULT_UNAVAILABLE_ACTION, code="VaultStoreUnavailable") from None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def store_full_message(full: engine.StoreFull) -> str:
    """The product's message, then the figures: what the backup would have needed at most (its new data;
    compression and deduplication usually make it less) and what the vault storage has free now that the
    failed backup's own chunks were removed."""
    if full.needed_bytes is None or full.free_bytes is None:
        return STORE_FULL
    return (
        f"{STORE_FULL} This backup needed up to {_mib(full.needed_bytes)} of new space; "
        f"{_mib(full.free_bytes)} is free."
    )


# -- The Backup job --------------------------------------------------------------------------------
def clean_up_backup(job: Job) -> str | None:
    """A Backup that ended without completing. Cancelled, it left nothing (the engine commits nothing before
    the point). Failed, the item reads as failing, unless its worker was lost after the store had committed
    the point: the point is then recorded and the job ends Completed with a warning. A KVM machine's libvirt
    backup job that the ended job left is ended in every case."""
    kvm_backup.end_leftover_backup(job)
    if job.status == JobStatus.CANCELLED:
        return None
    point = adopt_committed_point(job) if job.error_code in LOST_CODES else None
    if point is None:
        if job.params.get("protected_item_id"):
            mark_backup_failed(job.params["protected_item_id"])
        return None
    Job.objects.filter(pk=job.pk).update(result=job.result | {"recovery_point": point.point_id})
    if point.protected_item is not None:
        retention.start_prune(point.protected_item)
    replication.start_replication(point.vault)
    return STOPPED_AFTER_POINT


@handler(Operation.BACKUP, cancellable=True, clean_up=clean_up_backup)
def back_up_vm(ctx: JobContext) -> None:
    item_id = ctx.job.params["protected_item_id"]
    target: BackupTarget | kvm_backup.KvmTarget
    snapshot: Snapshot | kvm_backup.OpenSnapshot
    source_errors: AbstractContextManager[None] = nullcontext()
    with ctx.step(STEP_SNAPSHOT):
        item = load_item(item_id)
        if kvm_backup.is_kvm(item.vm):
            target = kvm_backup.load_target(item)
            store = open_store(item)
            snapshot = kvm_backup.take_snapshot(target, base_manifest(store, item), point_id_for(ctx.job))
            source_errors = kvm_backup.host_errors(target.host)
            ctx.show(kvm_backup.snapshot_properties(snapshot))
        else:
            target = simulated_target(item)
            store = open_store(target.item)
            snapshot = take_vm_snapshot(target)
        ctx.record(consistency=snapshot.consistency)
    point = None
    try:
        with ctx.step(STEP_TRANSFER):
            try:
                with source_errors:
                    manifest = transfer(
                        store, target, snapshot, ctx.job, progress=ctx.progress, cancel=ctx.cancel_requested
                    )
            except engine.Cancelled:
                raise JobCancelled() from None
            ctx.record(backup_size_bytes=manifest.bytes_transferred, data_read_bytes=manifest.bytes_read)
            ctx.show({"Backup Size": filesizeformat(manifest.bytes_transferred)})
        with ctx.step(STEP_POINT):
            ctx.stop_cancelling()  # the store holds the point: cancelling cannot take it back
            point = record_point(target, manifest, ctx.job)
            ctx.record(recovery_point=point.point_id)
    finally:
        try:
            with ctx.step(STEP_DELETE_SNAPSHOT):
                snapshot.delete()
        except Exception:
            if point is None:
                raise
            log.warning("job %s: the snapshot could not be deleted", ctx.job.pk, exc_info=True)
            ctx.record(warning=SNAPSHOT_NOT_DELETED)
    retention.start_prune(target.item)
    replication.start_replication(target.item.vault)
