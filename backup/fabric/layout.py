"""Where fabric files live. Paths are built from database ids only, never
from names, so no user-supplied value ever reaches the file system.

    FABRIC_ROOT/sa-<storage account id>/disk-<disk id>.vhd   (+ sidecars, snapshots/)
    FABRIC_ROOT/vms/vm-<vm id>/guest-writer.lock
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from .disks import Disk
from .guest import populate_disk

GiB = 1 << 30
MiB = 1 << 20
OS_DISK_MAX = 127 * GiB
DATA_DISK_MAX = 1023 * GiB
RESOURCE_DISK_MAX = 135 * GiB

OS_DISK_DATA = 24 * MiB
DATA_DISK_DATA = 8 * MiB
RESOURCE_DISK_DATA = 4 * MiB


def _id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer id, not {value!r}")
    return value


def storage_account_dir(fabric_root: Path, storage_account_id: int) -> Path:
    return Path(fabric_root) / f"sa-{_id(storage_account_id, 'storage_account_id')}"


def disk_path(fabric_root: Path, storage_account_id: int, disk_id: int) -> Path:
    return storage_account_dir(fabric_root, storage_account_id) / f"disk-{_id(disk_id, 'disk_id')}.vhd"


def vm_dir(fabric_root: Path, vm_id: int) -> Path:
    """Per-VM folder: holds the guest-writer lock (see guest.guest_writer_lock)."""
    return Path(fabric_root) / "vms" / f"vm-{_id(vm_id, 'vm_id')}"


@dataclass(frozen=True)
class VmDiskIds:
    os: int
    data: tuple[int, ...] = ()
    resource: int | None = None


def disk_keys(ids: VmDiskIds) -> dict[str, int]:
    """Stable keys ("os", "data-0", ..., "resource") -> disk ids."""
    keys = {"os": ids.os}
    keys.update({f"data-{i}": disk_id for i, disk_id in enumerate(ids.data)})
    if ids.resource is not None:
        keys["resource"] = ids.resource
    return keys


def create_vm_disks(
    fabric_root: Path,
    storage_account_id: int,
    ids: VmDiskIds,
    rng: random.Random | None = None,
    *,
    os_data: int = OS_DISK_DATA,
    data_disk_data: int = DATA_DISK_DATA,
    resource_data: int = RESOURCE_DISK_DATA,
) -> dict[str, Disk]:
    """Create a VM's sparse disks (OS 127 GiB, data 1023 GiB, resource 135 GiB
    max) and give them initial content. ``rng=None`` leaves them empty.

    The resource disk is Azure's temporary disk: it holds scratch data and is
    never backed up (callers leave the "resource" key out of snapshots).
    """
    sizes = {"os": OS_DISK_MAX, "resource": RESOURCE_DISK_MAX}
    amounts = {"os": os_data, "resource": resource_data}
    disks: dict[str, Disk] = {}
    for key, disk_id in disk_keys(ids).items():
        disk = Disk.create(disk_path(fabric_root, storage_account_id, disk_id), sizes.get(key, DATA_DISK_MAX))
        if rng is not None:
            populate_disk(disk, rng, amounts.get(key, data_disk_data))
        disks[key] = disk
    return disks


def open_vm_disks(fabric_root: Path, storage_account_id: int, ids: VmDiskIds) -> dict[str, Disk]:
    return {
        key: Disk.open(disk_path(fabric_root, storage_account_id, disk_id)) for key, disk_id in disk_keys(ids).items()
    }


def backed_up_disks(disks: dict[str, Disk]) -> dict[str, Disk]:
    """The disks a backup snapshots: everything but the temporary resource disk."""
    return {key: disk for key, disk in disks.items() if key != "resource"}
