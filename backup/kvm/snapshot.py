"""A point in time of a domain's disks as the engine reads it (backup.engine.protocols.Snapshot, structurally).

Used as a context manager around the engine's backup: leaving without an exception means the recovery point
was committed, so the checkpoint the previous point read from is no longer needed; leaving with one drops the
checkpoint this point created, so the next backup still starts from the last point that was kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from .nbd import Export


class KvmSnapshotDisk:
    """One disk as of the point in time, served over NBD; satisfies backup.engine.protocols.SnapshotDisk."""

    def __init__(self, key: str, export: Export, change_id: str, since: str | None) -> None:
        self.key = key
        self.size = export.size
        self.change_id = change_id  # the checkpoint this point created (or, offline, the one it read from)
        self.since = since  # the checkpoint whose dirty bitmap this export carries (None: full read)
        self.export = export

    def data_ranges(self) -> list[tuple[int, int]]:
        return self.export.data_ranges()

    def read(self, offset: int, length: int) -> bytes:
        return self.export.read(offset, length)

    def changed_ranges_since(self, change_id: str) -> list[tuple[int, int]] | None:
        if not self.since or change_id != self.since:
            return None  # unknown: the engine compares every allocated chunk with the last manifest
        return self.export.dirty_ranges()


class KvmSnapshot:
    """A point in time of all of a domain's backed-up disks (satisfies backup.engine.protocols.Snapshot)."""

    def __init__(
        self,
        *,
        id: str,
        consistency: str,
        created_at: datetime,
        domain_xml: str,
        notes: list[str],
        disks: Sequence[KvmSnapshotDisk],
        end: Callable[[], None],
        keep: Callable[[], None],
        discard: Callable[[], None],
    ) -> None:
        self.id = id
        self.consistency = consistency  # "file" when the guest agent froze the file systems, else "crash"
        self.created_at = created_at
        self.domain_xml = domain_xml  # the domain's inactive XML at the point, for restore
        self.notes = notes  # why a full read was taken instead of an incremental, agent time-outs, ...
        self._disks = list(disks)
        self._end, self._keep, self._discard = end, keep, discard
        self._ended = False

    @property
    def disks(self) -> Sequence[KvmSnapshotDisk]:
        return self._disks

    @property
    def incremental(self) -> bool:
        return any(d.since for d in self._disks)

    def delete(self) -> None:
        """End the libvirt backup job (or the offline export) and remove the scratch files; idempotent."""
        if self._ended:
            return
        self._ended = True
        for disk in self._disks:
            disk.export.close()
        self._end()

    def complete(self) -> None:
        """The point was committed: end the job and drop the checkpoint the previous point read from."""
        self.delete()
        self._keep()

    def abandon(self) -> None:
        """The point was not committed: end the job and drop the checkpoint this point created."""
        self.delete()
        self._discard()

    def __enter__(self) -> KvmSnapshot:
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        if exc_type is None:
            self.complete()
        else:
            self.abandon()
