"""Backups of protected machines: starting Backup jobs (on demand and on the policy's schedule) and the
Backup job itself (cancellable).

A Backup job's sub-tasks: Take Snapshot -> Transfer data to Backup vault -> Create recovery point, and always
Delete snapshot at the end (also after a failure or a cancel). Cancelling stops the transfer at the next
chunk boundary; the engine commits nothing, so no half recovery point is ever visible. Once the recovery
point exists the job ends Completed: a snapshot that could not be deleted is a warning in its details (the
next backup removes leftover snapshots), and a worker killed after the store committed the point has it
adopted by its clean-up (clean_up_backup).

A machine of a KVM host is backed up the same way: its point in time is a libvirt backup job with a new
checkpoint, taken through its host (kvm_backup), and its recovery point keeps the domain's XML for restore.

A Backup job is one row in the jobs app, locked on `vm:<vm id>` so only one operation per machine
runs at a time. Its recovery point id is derived from the job id (`job-<id>`): a job redelivered
after its worker died adopts a manifest the first attempt already committed instead of making a
second point.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from backup import engine
from backup.fabric import cow
from backup.fabric.disks import Disk, DiskError
from backup.fabric.guest import GUEST_LOCK_NAME
from backup.fabric.machines import consistency_for
from backup.fabric.snapshots import Snapshot, SnapshotError, list_snapshot_ids, open_snapshot, take_snapshot
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import LOST_CODES, JobCancelled, JobFailed, Refused
from backup.jobs.locks import Subject
from backup.jobs.models import ACTIVE_STATUSES, Job, JobStatus, Operation
from backup.jobs.registry import handler
from backup.vaults.models import Vault

from ..models import ProtectedItem, RecoveryPoint, VirtualDisk
from . import anomaly, kvm_backup, retention
from .stores import open_vault_store

log = logging.getLogger(__name__)

# -- The product's messages (its error table, verbatim) -------------------------------------------
VM_NO_LONGER_EXISTS = "Could not perform the operation as VM no longer exists."
VM_NO_LONGER_EXISTS_ACTION = "Stop protection and keep the data (stop protection with retain backup data)."
SNAPSHOT_TIMED_OUT = (
    "Could not communicate with the VM agent for snapshot status. Snapshot VM sub task timed out. - "
    "Please see the troubleshooting guide on how to resolve this."
)
SNAPSHOT_TIMED_OUT_ACTION = (
    "The VM agent or the network of the virtual machine did not answer in time. Restart the virtual machine "
    "and retry the backup."
)
AGENT_MISSING = (
    "Virtual machine agent is not present on the virtual machine - Please install the required pre-requisite, "
    "VM agent and restart the operation."
)
AGENT_MISSING_ACTION = "Install the Azure VM agent inside the virtual machine, then retry the backup."
STORE_FULL = "Backup failed: the vault storage is full."
STORE_FULL_ACTION = (
    "Free space in the vault: stop protection and delete the backup data of items you no longer need, or "
    "shorten the retention of the policy, then retry the backup."
)
PROTECTION_STOPPED = "Protection of this item is stopped - Backups run only for protected items."
PROTECTION_STOPPED_ACTION = "Configure protection for the item again, then retry the backup."
VAULT_UNAVAILABLE = "The backup vault's storage cannot be opened - Backup failed with an internal error."
VAULT_UNAVAILABLE_ACTION = "Retry the operation in a few minutes. If the problem persists, contact support."

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


def snapshot_timeout_s() -> float:
    """How long the snapshot waits for the guest to quiesce (VSS freeze / fsfreeze) before giving up."""
    return settings.SNAPSHOT_QUIESCE_TIMEOUT_S


# -- Starting jobs -------------------------------------------------------------------------------
def _start_backup(item: ProtectedItem, *, user=None, scheduled: bool = False) -> Job:
    return jobs.start(
        subscription=item.vault.subscription,
        operation=Operation.BACKUP,
        subject=Subject.of_item(item),
        lock_key=locks.protected_item(item.vm_id, item.pk),
        params={"protected_item_id": item.pk},
        user=user,
        scheduled=scheduled,
    )


def back_up_now(item: ProtectedItem, user) -> Job:
    """BACK UP NOW: start an on-demand Backup job for a protected item (queued once committed)."""
    if item.status == ProtectedItem.Status.STOPPED:
        raise Refused(PROTECTION_STOPPED, PROTECTION_STOPPED_ACTION, code="ProtectionStopped")
    return _start_backup(item, user=user)


def run_scheduled_backups(policy_id: int) -> list[Job]:
    """The policy's scheduled time has come: one Backup job per item it protects (not stopped)."""
    items = (
        ProtectedItem.objects.filter(policy_id=policy_id)
        .exclude(status=ProtectedItem.Status.STOPPED)
        .select_related("vault__subscription")
        .order_by("pk")
    )
    started = []
    for item in items:
        with transaction.atomic():
            started.append(_start_backup(item, scheduled=True))
    return started


# -- The pieces of a Backup job --------------------------------------------------------------------
@dataclass
class BackupTarget:
    item: ProtectedItem
    disks: dict[str, Disk]  # the disks a backup reads: every disk but the resource disk
    consistency: str
    vm_dir: Path
    machine_config: str = ""  # only a KVM domain has one (kvm_backup.KvmTarget)


def load_item(item_id: int) -> ProtectedItem:
    """The item to back up, while it is protected and its machine exists; explained failures otherwise."""
    try:
        item = ProtectedItem.objects.select_related("vault", "policy", "vm__cloud_service", "vm__host").get(
            pk=item_id)
    except ProtectedItem.DoesNotExist:
        raise JobFailed("The protected item no longer exists.", "Refresh the protected items list.",
                        code="ItemNotFound") from None
    if item.status == ProtectedItem.Status.STOPPED:
        raise JobFailed(PROTECTION_STOPPED, PROTECTION_STOPPED_ACTION, code="ProtectionStopped")
    vm = item.vm
    if vm is None:
        raise JobFailed(VM_NO_LONGER_EXISTS, VM_NO_LONGER_EXISTS_ACTION, code="VmNotFound")
    return item


def load_target(item_id: int) -> BackupTarget:
    """Check the item can be backed up and open its disks; explained failures otherwise."""
    return simulated_target(load_item(item_id))


def simulated_target(item: ProtectedItem) -> BackupTarget:
    vm = item.vm
    assert vm is not None
    spec = vm.spec()
    if not spec.agent_installed:
        raise JobFailed(AGENT_MISSING, AGENT_MISSING_ACTION, code="VmAgentNotPresent")
    disks: dict[str, Disk] = {}
    for row in vm.disks.exclude(kind=VirtualDisk.Kind.RESOURCE).order_by("kind", "lun"):
        try:
            disks[row.key] = Disk.open(row.path)
        except (DiskError, OSError):
            raise JobFailed(VM_NO_LONGER_EXISTS, VM_NO_LONGER_EXISTS_ACTION, code="VmNotFound") from None
    if not disks:
        raise JobFailed(VM_NO_LONGER_EXISTS, VM_NO_LONGER_EXISTS_ACTION, code="VmNotFound")
    return BackupTarget(item=item, disks=disks, consistency=consistency_for(spec), vm_dir=vm.folder)


def open_store(item: ProtectedItem) -> engine.Store:
    return open_vault_store(item.vault, VAULT_UNAVAILABLE)


@contextmanager
def quiesce_guest(vm_dir: Path, timeout_s: float):
    """Take the VM's guest-writer lock like a VSS freeze, but give up after `timeout_s` with the
    product's snapshot time-out message (a guest that never lets go must not hang the job)."""
    vm_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(vm_dir / GUEST_LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise JobFailed(SNAPSHOT_TIMED_OUT, SNAPSHOT_TIMED_OUT_ACTION, code="SnapshotTimedOut") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def remove_leftover_snapshots(disks: dict[str, Disk]) -> int:
    """Delete snapshots an earlier, killed attempt left on these disks. Safe: the job's lock key lets only
    one operation per machine run, and nothing but backups snapshot a machine's disks."""
    ids = {sid for disk in disks.values() for sid in list_snapshot_ids(disk.path)}
    for sid in ids:
        try:
            open_snapshot({k: d.path for k, d in disks.items()}, sid).delete()
        except SnapshotError:
            for disk in disks.values():
                cow.remove_store(disk.path, sid)
    return len(ids)


def take_vm_snapshot(target: BackupTarget) -> Snapshot:
    remove_leftover_snapshots(target.disks)
    return take_snapshot(target.disks, target.consistency,
                         quiesce=lambda: quiesce_guest(target.vm_dir, snapshot_timeout_s()))


def base_manifest(store: engine.Store, item: ProtectedItem) -> engine.Manifest | None:
    """The item's newest recovery point whose manifest is still in the store: the incremental's base."""
    for point_id in item.recovery_points.order_by("-created_at").values_list("point_id", flat=True)[:5]:
        if store.has_manifest(point_id):
            try:
                return store.load_manifest(point_id)
            except (engine.EngineError, ValueError):
                continue
    return None


def point_id_for(job: Job) -> str:
    return f"job-{job.pk}"


def transfer(store, target: BackupTarget | kvm_backup.KvmTarget, snapshot: Snapshot | kvm_backup.OpenSnapshot,
             job: Job, *, progress, cancel) -> engine.Manifest:
    try:
        return engine.backup_snapshot(
            store, item=target.item.store_item_id, point_id=point_id_for(job), snapshot=snapshot,
            time=snapshot.created_at, base=base_manifest(store, target.item), progress=progress, cancel=cancel,
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
    return (f"{STORE_FULL} This backup needed up to {_mib(full.needed_bytes)} of new space; "
            f"{_mib(full.free_bytes)} is free.")


def record_point(target: BackupTarget | kvm_backup.KvmTarget, manifest: engine.Manifest, job: Job) -> RecoveryPoint:
    """Make the committed manifest visible as a RecoveryPoint and mark the item Protected."""
    return _record(target.item, manifest, job, machine_config=target.machine_config)


def _record(item: ProtectedItem, manifest: engine.Manifest, job: Job, machine_config: str = "") -> RecoveryPoint:
    # Protected-instance size: the data of the backed-up disks (OS + data), never the resource disk.
    instance_bytes = sum(d.logical_bytes for d in manifest.disks if d.key != "resource")
    with transaction.atomic():
        point, created = RecoveryPoint.objects.get_or_create(
            vault_id=item.vault_id, point_id=manifest.point_id,
            defaults={
                "protected_item": item, "registered_item_id": item.registered_item_id, "vm_name": item.vm_name,
                "created_at": manifest.time, "consistency": manifest.consistency,
                "logical_bytes": manifest.logical_bytes, "bytes_read": manifest.bytes_read,
                "bytes_transferred": manifest.bytes_transferred, "stored_bytes_new": manifest.stored_bytes_new,
                "protected_instance_bytes": instance_bytes, "job_id": job.pk, "on_demand": not job.scheduled,
                "disks": [{"key": d.key, "size": d.size, "logical_bytes": d.logical_bytes} for d in manifest.disks],
                "machine_config": machine_config,
            },
        )
        if created:
            anomaly.assess(point)  # before the Prune job that follows, so a suspicious point holds it
        ProtectedItem.objects.filter(pk=item.pk).exclude(status=ProtectedItem.Status.STOPPED).update(
            status=ProtectedItem.Status.PROTECTED, last_backup_at=timezone.now(), last_backup_status="completed",
            protected_instance_bytes=instance_bytes,
        )
    return point


def adopt_committed_point(job: Job) -> RecoveryPoint | None:
    """The recovery point of a Backup job whose worker died (or lost the database) after the store committed
    its manifest: recorded now if it was not yet, so the portal, retention and GC see what the store holds.
    None when the job never committed one."""
    point_id = point_id_for(job)
    item = ProtectedItem.objects.select_related("vault").filter(pk=job.params.get("protected_item_id")).first()
    if item is None:
        return None
    point = RecoveryPoint.objects.filter(vault_id=item.vault_id, point_id=point_id).first()
    if point is not None:
        return point
    try:
        store = engine.Store.open(item.vault.store_path)
        if not store.has_manifest(point_id):
            return None
        manifest = store.load_manifest(point_id)
    except (engine.EngineError, ValueError, OSError):
        return None
    if manifest.item != item.store_item_id:
        return None
    return _record(item, manifest, job)


def adopt_orphan_manifests(vault_id: int) -> list[RecoveryPoint]:
    """Reconcile a vault's store with its recovery points: every manifest a finished Backup job of this vault
    committed but never recorded (its worker was killed between the two) becomes the point it is."""
    vault = Vault.objects.get(pk=vault_id)
    try:
        store = engine.Store.open(vault.store_path)
        manifests = store.list_manifests()
    except (engine.EngineError, OSError):
        return []
    known = set(RecoveryPoint.objects.filter(vault_id=vault_id).values_list("point_id", flat=True))
    job_ids = {int(m.point_id[4:]): m for m in manifests
               if m.point_id not in known and m.point_id.startswith("job-") and m.point_id[4:].isdigit()}
    adopted = []
    finished = Job.objects.filter(pk__in=job_ids, vault_id=vault_id, operation=Operation.BACKUP).exclude(
        status__in=ACTIVE_STATUSES)  # a running job records its own point
    for job in finished:
        point = adopt_committed_point(job)
        if point is not None:
            adopted.append(point)
    return adopted


def mark_backup_failed(item_id: int) -> None:
    """After a failed backup the item reads "Protected (backup failing)" until a backup succeeds."""
    ProtectedItem.objects.filter(pk=item_id).exclude(status=ProtectedItem.Status.STOPPED).update(
        status=ProtectedItem.Status.BACKUP_FAILING, last_backup_status="failed"
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
                    manifest = transfer(store, target, snapshot, ctx.job, progress=ctx.progress,
                                        cancel=ctx.cancel_requested)
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
