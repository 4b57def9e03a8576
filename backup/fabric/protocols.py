"""What the vms app needs from a fabric, as structural protocols.

The simulated fabric in this package satisfies them module by module (``limits`` is an ``Inventory``,
``agents`` an ``Agents``, ``Disk`` a ``Disks``, ``snapshots`` a ``Snapshots``, ``layout`` a
``RestoreTargets``); tests/fabric/test_fabric_protocols.py binds each one to its protocol, so mypy
checks every signature. A second fabric provides the same five parts; the services then need not change.

``MachineSpec`` and ``Limitation`` are plain values, not protocols: the portal describes a machine
from its inventory rows with a ``MachineSpec``, and any fabric answers with the product's limitations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from .limits import Limitation
from .machines import MachineSpec

Range = tuple[int, int]  # (offset, length) in bytes


@runtime_checkable
class VirtualDisk(Protocol):
    """One disk image of a machine, with change tracking: each ``change_id()`` names the writes so far."""

    @property
    def path(self) -> Path: ...
    @property
    def size(self) -> int: ...  # maximum (virtual) size in bytes

    def change_id(self) -> str: ...

    def read(self, offset: int, length: int, /) -> bytes: ...
    def write(self, offset: int, data: bytes | bytearray | memoryview, /) -> None: ...
    def data_ranges(self) -> list[Range]: ...  # allocated extents, never holes
    def allocated_bytes(self) -> int: ...  # what the machine is billed for
    def changed_ranges_since(self, change_id: str, /) -> list[Range] | None: ...  # None: unknown id, read it all
    def delete(self) -> None: ...


D_contra = TypeVar("D_contra", bound=VirtualDisk, contravariant=True)
D_co = TypeVar("D_co", bound=VirtualDisk, covariant=True)


class Disks(Protocol[D_co]):
    """Making and finding disk images (the simulated fabric: the ``Disk`` class itself)."""

    def create(self, path: Path, max_size: int, /) -> D_co: ...
    def open(self, path: Path, /) -> D_co: ...  # starts change tracking on a disk that has none yet
    def actual_size_of(self, path: Path, /) -> int: ...


@runtime_checkable
class SnapshotDisk(Protocol):
    """A disk as of its snapshot: what backup.engine.protocols.SnapshotDisk reads, from the fabric's side."""

    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def change_id(self) -> str: ...

    def read(self, offset: int, length: int, /) -> bytes: ...
    def data_ranges(self) -> list[Range]: ...
    def changed_ranges_since(self, change_id: str, /) -> list[Range] | None: ...


@runtime_checkable
class Snapshot(Protocol):
    """All of a machine's disks frozen at one instant; deleting it ends what the disks pay for it."""

    @property
    def id(self) -> str: ...
    @property
    def consistency(self) -> str: ...  # "application" | "file" | "crash"
    @property
    def created_at(self) -> datetime: ...
    @property
    def disks(self) -> Sequence[SnapshotDisk]: ...

    def delete(self) -> None: ...
    def __enter__(self) -> Snapshot: ...
    def __exit__(self, *exc: object) -> None: ...  # closes the snapshot's files; it stays until deleted


class Snapshots(Protocol[D_contra]):
    """Taking, reopening (from another process: a retried job) and finding snapshots."""

    @property
    def SnapshotError(self) -> type[Exception]: ...  # noqa: N802 - the exception class the fabric raises

    def take_snapshot(
        self,
        disks: Mapping[str, D_contra],
        consistency: str,
        quiesce: Callable[[], AbstractContextManager[object]] | None = None,
        /,
    ) -> Snapshot: ...
    def open_snapshot(self, disk_paths: Mapping[str, Path], snapshot_id: str, /) -> Snapshot: ...
    def list_snapshot_ids(self, image: Path, /) -> list[str]: ...


class Inventory(Protocol):
    """What the fabric says of a machine the portal describes: the product's limitations, in the order shown."""

    def configuration_problems(self, spec: MachineSpec, /) -> list[Limitation]: ...
    def registration_problems(self, spec: MachineSpec, /) -> list[Limitation]: ...
    def restore_problems(self, spec: MachineSpec, /) -> list[Limitation]: ...


class ExtensionInfo(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...


class Agents(Protocol):
    """The backup extension inside the guest: installed on registration, removed on unregistration."""

    @property
    def ExtensionInstallError(self) -> type[Exception]: ...  # noqa: N802 - carries the Limitation that refused

    def install_backup_extension(self, spec: MachineSpec, /) -> ExtensionInfo: ...
    def remove_backup_extension(self, spec: MachineSpec, /) -> None: ...


class RestoreTargets(Protocol):
    """Where a storage account keeps its disk images and a machine its own files; a restore writes there."""

    def storage_account_dir(self, fabric_root: Path, storage_account_id: int, /) -> Path: ...
    def disk_path(self, fabric_root: Path, storage_account_id: int, disk_id: int, /) -> Path: ...
    def vm_dir(self, fabric_root: Path, vm_id: int, /) -> Path: ...
