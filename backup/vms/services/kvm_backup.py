"""The KVM pieces of the Backup job: a libvirt domain's point in time, and ending what a killed job left.

The job itself (backup.back_up_vm) is the same for both fabrics and imports this module, which opens the
host, fixes the point in time with a new checkpoint, and turns the host's failures into the product's
messages. The engine reads the snapshot through its protocols and never learns it came from libvirt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from backup import engine, kvm
from backup.jobs.errors import JobFailed
from backup.jobs.models import Job

from ..models import HypervisorHost, ProtectedItem, VirtualMachine
from . import hosts
from .backup_messages import VM_NO_LONGER_EXISTS, VM_NO_LONGER_EXISTS_ACTION
from .backup_targets import snapshot_timeout_s

log = logging.getLogger(__name__)

HOST_UNREACHABLE = "The KVM host {host} could not be reached: {error}"
HOST_UNREACHABLE_ACTION = (
    "Check that libvirtd runs on the host and that the portal can reach it at {uri}, then retry the operation."
)
BACKUP_BUSY = (
    "Another backup job is running on the virtual machine's domain, started outside this portal - "
    "Backup failed because libvirt runs one backup job per domain at a time."
)
BACKUP_BUSY_ACTION = "Wait until the other backup job has finished (or end it with `virsh domjobabort`), then retry."
HOST_REFUSED = "The KVM host {host} refused the operation: {error}"
HOST_REFUSED_ACTION = "Check the virtual machine's domain and the host's libvirt log, then retry the operation."


def is_kvm(vm: VirtualMachine | None) -> bool:
    """A libvirt domain's machine, also once its host was removed (it then no longer exists for the portal)."""
    return vm is not None and (vm.host_id is not None or bool(vm.domain_uuid))


def checkpoint_name(point_id: str) -> str:
    """One checkpoint per point, named after it, so the next backup knows which one its base created."""
    return f"azbk-{point_id}"


@contextmanager
def host_errors(host: HypervisorHost) -> Iterator[None]:
    """The host's failures as the product's explained job failures."""
    try:
        yield
    except kvm.HostUnavailable as error:
        raise JobFailed(
            HOST_UNREACHABLE.format(host=host.name, error=error),
            HOST_UNREACHABLE_ACTION.format(uri=host.uri),
            code="KvmHostUnavailable",
        ) from None
    except kvm.DomainNotFound:
        raise JobFailed(VM_NO_LONGER_EXISTS, VM_NO_LONGER_EXISTS_ACTION, code="VmNotFound") from None
    except kvm.BackupBusy:
        raise JobFailed(BACKUP_BUSY, BACKUP_BUSY_ACTION, code="KvmBackupBusy") from None
    except kvm.KvmError as error:
        raise JobFailed(
            HOST_REFUSED.format(host=host.name, error=error), HOST_REFUSED_ACTION, code="KvmHostError"
        ) from None


@dataclass
class KvmTarget:
    item: ProtectedItem
    host: HypervisorHost
    domain_uuid: str
    disk_keys: tuple[str, ...]
    machine_config: str = ""  # the domain XML at the point, once the snapshot is taken


def load_target(item: ProtectedItem) -> KvmTarget:
    vm = item.vm
    assert vm is not None
    keys = tuple(d.target for d in vm.disks.exclude(target="").order_by("kind", "lun"))
    if vm.host is None or not vm.domain_uuid or not keys:
        raise JobFailed(VM_NO_LONGER_EXISTS, VM_NO_LONGER_EXISTS_ACTION, code="VmNotFound")
    return KvmTarget(item=item, host=vm.host, domain_uuid=vm.domain_uuid, disk_keys=keys)


def since_checkpoint(base: engine.Manifest | None, keys: Sequence[str]) -> str | None:
    """The checkpoint the base point created: one for all of its disks, or none to trust."""
    if base is None:
        return None
    ids = {d.change_id for d in base.disks if d.key in keys}
    return ids.pop() if len(ids) == 1 and "" not in ids else None


class OpenSnapshot:
    """A domain's point in time together with the host connection it needs: deleting it ends the libvirt
    backup job, then closes the connection. Satisfies the engine's Snapshot protocol."""

    def __init__(self, connection: kvm.Host, snapshot, host: HypervisorHost, since: str | None = None) -> None:
        self._connection = connection
        self._snapshot = snapshot
        self._host = host
        self.consistency: str = snapshot.consistency
        self.created_at = snapshot.created_at
        self.domain_xml: str = snapshot.domain_xml
        self.notes: list[str] = list(snapshot.notes)
        self.incremental = bool(since)

    @property
    def disks(self):
        return self._snapshot.disks

    def delete(self) -> None:
        try:
            with host_errors(self._host):
                self._snapshot.delete()
        finally:
            self._connection.close()


def take_snapshot(target: KvmTarget, base: engine.Manifest | None, point_id: str) -> OpenSnapshot:
    """Fix the point in time (file-consistent when the guest agent freezes the file systems, else crash-consistent;
    a shut-off domain is read offline). The host first ends a backup job a killed worker left, and says so."""
    with host_errors(target.host):
        connection = hosts.connect(target.host)
        since = since_checkpoint(base, target.disk_keys)
        try:
            snapshot = connection.begin_backup(
                target.domain_uuid,
                checkpoint=checkpoint_name(point_id),
                since=since,
                disks=target.disk_keys,
                quiesce=True,
                quiesce_timeout_s=snapshot_timeout_s(),
            )
        except BaseException:
            connection.close()
            raise
    target.machine_config = snapshot.domain_xml
    return OpenSnapshot(connection, snapshot, target.host, since)


def snapshot_properties(snapshot: OpenSnapshot) -> dict[str, str]:
    """What the job details page says about the point: its consistency and why, how much of the disks was read
    and why, and anything else the host noted."""
    consistency = "File-system consistent" if snapshot.consistency == "file" else "Crash consistent"
    why = [n for n in snapshot.notes if "consistent" in n or "guest agent" in n]
    reads = [n for n in snapshot.notes if n.startswith("Full read") or "read whole" in n or "whole disk" in n]
    others = [n for n in snapshot.notes if n not in why and n not in reads]
    shown = {"Consistency": " - ".join([consistency, *why])}
    shown["Data read"] = (
        " ".join(reads)
        if reads
        else (
            "Incremental: only the extents changed since the last point"
            if snapshot.incremental
            else "Full read of the allocated extents"
        )
    )
    if others:
        shown["Snapshot notes"] = " ".join(others)
    return shown


def end_leftover_backup(job: Job) -> None:
    """A Backup job of a KVM machine ended without completing (failed, cancelled, its worker killed): end the
    libvirt backup job it may have left, so the domain is as it was and the next backup can start."""
    item = ProtectedItem.objects.select_related("vm__host").filter(pk=job.params.get("protected_item_id")).first()
    vm = item.vm if item is not None else None
    if vm is None or vm.host is None or not vm.domain_uuid:
        return
    try:
        connection = hosts.connect(vm.host)
        try:
            if connection.end_leftover_backup(vm.domain_uuid):
                log.info("job %s: ended the backup job it left on domain %s", job.pk, vm.domain_uuid)
        finally:
            connection.close()
    except kvm.KvmError as error:
        # The next backup ends it before it starts: nothing is lost by trying again then.
        log.warning("job %s: could not end its backup job on %s: %s", job.pk, vm.host.name, error)
