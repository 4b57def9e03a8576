"""What a Backup job backs up: the item (while it is protected and its machine exists) and, on the simulated
fabric, the machine's disks and their point in time (a snapshot taken under the guest's quiesce).

A KVM machine's target and point in time are kvm_backup's; both use the item check and the quiesce time-out
here.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from backup.fabric import cow
from backup.fabric.disks import Disk, DiskError
from backup.fabric.guest import GUEST_LOCK_NAME
from backup.fabric.machines import consistency_for
from backup.fabric.snapshots import Snapshot, SnapshotError, list_snapshot_ids, open_snapshot, take_snapshot
from backup.jobs.errors import JobFailed

from ..models import ProtectedItem, VirtualDisk
from .backup_messages import (
    AGENT_MISSING,
    AGENT_MISSING_ACTION,
    PROTECTION_STOPPED,
    PROTECTION_STOPPED_ACTION,
    SNAPSHOT_TIMED_OUT,
    SNAPSHOT_TIMED_OUT_ACTION,
    VM_NO_LONGER_EXISTS,
    VM_NO_LONGER_EXISTS_ACTION,
)


def snapshot_timeout_s() -> float:
    """How long the snapshot waits for the guest to quiesce (VSS freeze / fsfreeze) before giving up."""
    return settings.SNAPSHOT_QUIESCE_TIMEOUT_S


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
        item = ProtectedItem.objects.select_related("vault", "policy", "vm__cloud_service", "vm__host").get(pk=item_id)
    except ProtectedItem.DoesNotExist:
        raise JobFailed(
            "The protected item no longer exists.", "Refresh the protected items list.", code="ItemNotFound"
        ) from None
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
    return take_snapshot(
        target.disks, target.consistency, quiesce=lambda: quiesce_guest(target.vm_dir, snapshot_timeout_s())
    )
