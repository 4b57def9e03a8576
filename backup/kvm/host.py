"""A libvirt host: its domains as the portal lists them, backups of their disks, and restores into its pool.

CONTRACT (filled in by the driver; the vms services are written against exactly this):
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class DiskInfo:
    target: str  # "vda": the disk's stable key in snapshots and manifests
    device_index: int  # 0 = the first disk in the domain XML (the portal calls it the OS disk)
    path: str | None  # image file or block device; None for a network disk
    source_type: str  # "file" | "block" | "network" | "volume"
    format: str  # "qcow2" | "raw" | ...
    capacity: int  # virtual size in bytes
    allocation: int  # bytes the image uses on the host (what billing counts)
    trackable: bool  # qcow2 file: checkpoints (dirty bitmaps) work; else every backup reads the whole disk
    untrackable_reason: str = ""  # why not, in words for the registration warning


@dataclass(frozen=True)
class DomainInfo:
    uuid: str
    name: str
    state: str  # "running" | "paused" | "shut off" | "crashed" | ...
    vcpus: int
    memory_mib: int
    disks: tuple[DiskInfo, ...]
    agent_channel: bool  # an org.qemu.guest_agent.0 virtio-serial channel is configured
    agent_responds: bool  # guest-ping answered within the agent timeout (False when shut off)
    os_type: str  # "linux" | "windows" | "" (from libosinfo metadata when present)

    @property
    def running(self) -> bool:
        return self.state in ("running", "paused")


class KvmSnapshotDisk:
    """One disk as of the point in time, served over NBD; satisfies backup.engine.protocols.SnapshotDisk."""

    key: str
    size: int
    change_id: str  # the checkpoint this point created (or, offline, the one it read from)

    def data_ranges(self) -> list[tuple[int, int]]: ...
    def read(self, offset: int, length: int) -> bytes: ...  # thread-safe (a connection per thread)
    def changed_ranges_since(self, change_id: str) -> list[tuple[int, int]] | None: ...


class KvmSnapshot:
    """A point in time of all of a domain's backed-up disks (satisfies backup.engine.protocols.Snapshot)."""

    id: str
    consistency: str  # "file" when the guest agent froze the file systems, else "crash"
    created_at: datetime
    domain_xml: str  # the domain's inactive XML at the point, for restore
    notes: list[str]  # why a full read was taken instead of an incremental, agent time-outs, ...

    @property
    def disks(self) -> Sequence[KvmSnapshotDisk]: ...
    def delete(self) -> None: ...  # end the libvirt backup job / offline export, remove scratch files
    def __enter__(self) -> KvmSnapshot: ...
    def __exit__(self, *exc: object) -> None: ...


class Host:
    def __init__(self, uri: str, *, agent_timeout_s: float = 5.0, work_dir: Path | None = None) -> None: ...
    def close(self) -> None: ...

    # Inventory
    def list_domains(self) -> list[DomainInfo]: ...
    def domain(self, uuid: str) -> DomainInfo: ...  # DomainNotFound
    def pool_path(self, pool: str) -> Path: ...  # PoolNotFound

    # Backup
    def begin_backup(self, uuid: str, *, checkpoint: str, since: str | None, disks: Sequence[str] | None = None,
                     quiesce: bool = True, quiesce_timeout_s: float = 10.0) -> KvmSnapshot: ...
    def end_leftover_backup(self, uuid: str) -> bool: ...  # aborts our backup job left by a killed worker

    # Restore
    def create_volume(self, pool: str, name: str, capacity: int, fmt: str = "qcow2") -> Path: ...
    def import_raw_image(self, raw: Path, volume: Path) -> None: ...  # write a restored raw image's data
    def delete_volume(self, path: Path) -> None: ...
    def define_restored_domain(self, source_xml: str, name: str, disks: Mapping[str, Path], *,
                               start: bool) -> str: ...  # new uuid
    def undefine_domain(self, uuid: str) -> None: ...
    def wait_for_agent(self, uuid: str, timeout_s: float) -> bool: ...
