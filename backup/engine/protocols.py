"""What the engine needs from the outside world, as structural protocols.

The fabric (backup.fabric) satisfies these without importing the engine, and
tests use a small fake over sparse files. Keep the names stable: both sides
are built against them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class SnapshotDisk(Protocol):
    key: str  # stable name of the disk within its VM ("os", "data-0"); matches manifests across points
    size: int  # maximum (virtual) size in bytes
    change_id: str  # change-tracking id of the disk at snapshot time

    def data_ranges(self) -> list[tuple[int, int]]:
        """Allocated (offset, length) extents as of the snapshot, sorted, never holes."""
        ...

    def read(self, offset: int, length: int) -> bytes:
        """Content as of the snapshot (zeros in holes). Must be thread-safe."""
        ...

    def changed_ranges_since(self, change_id: str) -> list[tuple[int, int]] | None:
        """Byte ranges written since change_id; None = unknown -> full compare."""
        ...


@runtime_checkable
class Snapshot(Protocol):
    consistency: str  # "application" | "file" | "crash"

    @property
    def disks(self) -> Sequence[SnapshotDisk]: ...  # read-only here, so a list of a subtype fits


class ProgressSink(Protocol):
    def __call__(self, bytes_done: int, bytes_total: int, /) -> None: ...


CancelCheck = Callable[[], bool]  # True -> stop at the next safe point and raise errors.Cancelled
