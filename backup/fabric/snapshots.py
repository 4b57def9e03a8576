"""Point-in-time, read-only, copy-on-write snapshots of all of a VM's disks.

Taking a snapshot: optionally quiesce the guest (application/file
consistency: take the VM's guest-writer lock, as VSS / fsfreeze would), then
hold the exclusive locks of *all* the disks at once while each disk gets an
empty copy-on-write store and hands out its change id. No write can land
between two disks' freeze points, so the set is consistent across disks.

Reading: a snapshot disk reads the *live* image with os.pread under the
disk's shared lock and overlays the blocks its COW store has saved (one map
lookup per read call, one pread per run of saved blocks). With no writes
since the snapshot this is raw pread speed.

A snapshot is identified by a random hex id and can be reopened from any
process (Celery retries) with ``open_snapshot(disk_paths, id)``; its manifest
lives in ``snapshots/<id>/manifest.json`` next to each disk.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import cow
from .cow import BLOCK_SIZE, pread_full, saved_runs
from .disks import Disk, live_data_spans, tracking_path
from .locks import SharedReaderLock, disk_exclusive, disks_exclusive
from .ranges import Range, merge_spans, subtract_spans, to_ranges
from .tracking import ChangeLog

CONSISTENCIES = ("application", "file", "crash")
MANIFEST = "manifest.json"
_ID_RE = re.compile(r"^[0-9a-f]{32}$")

Quiesce = Callable[[], AbstractContextManager[object]]


class SnapshotError(Exception):
    pass


class SnapshotNotFound(SnapshotError):
    pass


class SnapshotDeleted(SnapshotError):
    pass


class SnapshotDisk:
    """One disk as of the snapshot. Satisfies the engine's SnapshotDisk protocol."""

    def __init__(self, key: str, image: Path, size: int, change_id: str, snapshot_id: str) -> None:
        self.key = key
        self.size = size
        self.change_id = change_id
        self.image = image
        self.snapshot_id = snapshot_id
        self.map_path, self.cow_path = cow.store_paths(image, snapshot_id)
        self._lock = SharedReaderLock(image)
        self._fds: tuple[int, int, int] | None = None  # live, map, cow
        self._open_mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"SnapshotDisk(key={self.key!r}, image={str(self.image)!r}, snapshot={self.snapshot_id})"

    def _open(self) -> tuple[int, int, int]:
        # Shared descriptors: os.pread does not move a file offset, so threads
        # can use them concurrently.
        if self._fds is not None:
            return self._fds
        with self._open_mutex:  # first reads may race from several threads
            if self._fds is not None:
                return self._fds
            try:
                fds = (
                    os.open(self.image, os.O_RDONLY | os.O_CLOEXEC),
                    os.open(self.map_path, os.O_RDONLY | os.O_CLOEXEC),
                    os.open(self.cow_path, os.O_RDONLY | os.O_CLOEXEC),
                )
            except FileNotFoundError as exc:
                raise SnapshotDeleted(f"snapshot {self.snapshot_id} of {self.image} is gone") from exc
            self._fds = fds
        return fds

    def _check_alive(self, map_fd: int) -> None:
        if os.fstat(map_fd).st_nlink == 0:  # deleted by another handle/process
            raise SnapshotDeleted(f"snapshot {self.snapshot_id} of {self.image} was deleted")

    def read(self, offset: int, length: int) -> bytes:
        """Content as of the snapshot; zeros in holes. Thread-safe."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError(f"range {offset}+{length} outside disk of {self.size} bytes")
        if length == 0:
            return b""
        live_fd, map_fd, cow_fd = self._open()
        first = offset // BLOCK_SIZE
        last = (offset + length - 1) // BLOCK_SIZE
        end = offset + length
        with self._lock.held():
            self._check_alive(map_fd)
            data = pread_full(live_fd, length, offset)
            flags = pread_full(map_fd, last - first + 1, first)
            if flags.count(0) == len(flags):
                return data  # nothing overwritten since the snapshot
            buf = bytearray(data)
            for b0, b1 in saved_runs(flags, first):
                lo = max(b0 * BLOCK_SIZE, offset)
                hi = min(b1 * BLOCK_SIZE, end)
                buf[lo - offset : hi - offset] = pread_full(cow_fd, hi - lo, lo)
        return bytes(buf)

    def data_ranges(self) -> list[Range]:
        """Allocated extents as of the snapshot: live extents outside saved
        blocks, plus the saved blocks' own data (holes at snapshot time that
        were written later are not data; data since discarded still is)."""
        live_fd, map_fd, cow_fd = self._open()
        with self._lock.held():
            self._check_alive(map_fd)
            live = live_data_spans(self.image, self.size)
            saved = cow.saved_block_spans(self.map_path, self.size)
            kept = cow.data_spans(cow_fd, 0, self.size)
        return to_ranges(merge_spans(subtract_spans(live, saved) + kept))

    def changed_ranges_since(self, change_id: str) -> list[Range] | None:
        """Exact ranges written between ``change_id`` and this snapshot."""
        with self._lock.held():
            return ChangeLog(tracking_path(self.image)).ranges_between(change_id, self.change_id)

    def allocated_bytes(self) -> int:
        return sum(length for _, length in self.data_ranges())

    def close(self) -> None:
        with self._open_mutex:
            fds, self._fds = self._fds, None
        for fd in fds or ():
            os.close(fd)
        self._lock.close()

    def __del__(self) -> None:
        # Engines may drop snapshots without closing them; don't leak fds.
        try:
            self.close()
        except Exception:
            pass


@dataclass
class Snapshot:
    id: str
    consistency: str
    created_at: datetime
    disks: list[SnapshotDisk] = field(default_factory=list)

    def disk(self, key: str) -> SnapshotDisk:
        for d in self.disks:
            if d.key == key:
                return d
        raise KeyError(key)

    def close(self) -> None:
        for d in self.disks:
            d.close()

    def delete(self) -> None:
        """Drop the COW stores (idempotent); writes stop paying for them."""
        self.close()
        for d in self.disks:
            if d.image.exists():
                with disk_exclusive(d.image):  # no reader or writer mid-operation
                    cow.remove_store(d.image, self.id)
            else:
                cow.remove_store(d.image, self.id)
        for folder in {cow.snapshots_root(d.image) / self.id for d in self.disks}:
            shutil.rmtree(folder, ignore_errors=True)
            try:
                folder.parent.rmdir()  # only succeeds when no snapshot is left
            except OSError:
                pass

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def take_snapshot(disks: Mapping[str, Disk], consistency: str, quiesce: Quiesce | None = None) -> Snapshot:
    """Freeze all ``disks`` at one instant.

    ``quiesce`` returns a context manager held around the freeze, normally
    ``lambda: guest_writer_lock(vm_dir)``: required for "application",
    used if given for "file", ignored for "crash".
    """
    if consistency not in CONSISTENCIES:
        raise ValueError(f"unknown consistency {consistency!r}")
    if not disks:
        raise ValueError("a snapshot needs at least one disk")
    if consistency == "application" and quiesce is None:
        raise ValueError("an application-consistent snapshot needs a quiesce callable")
    snapshot_id = uuid.uuid4().hex
    created_at = datetime.now(UTC)
    guard = quiesce() if quiesce is not None and consistency != "crash" else nullcontext()
    snap = Snapshot(id=snapshot_id, consistency=consistency, created_at=created_at)
    with guard, disks_exclusive([d.path for d in disks.values()]):
        try:
            for key, disk in disks.items():
                cow.create_store(disk.path, snapshot_id, disk.size)
                # The disk lock is already held: use the log directly.
                change_id = ChangeLog(tracking_path(disk.path)).change_id()
                snap.disks.append(SnapshotDisk(key, disk.path, disk.size, change_id, snapshot_id))
            _write_manifests(snap)
        except BaseException:
            # Half-made snapshot (e.g. ENOSPC): remove every store we created
            # so writes stop paying copy-on-write for it.
            for disk in disks.values():
                cow.remove_store(disk.path, snapshot_id)
                shutil.rmtree(cow.snapshots_root(disk.path) / snapshot_id, ignore_errors=True)
            raise
    return snap


def _write_manifests(snap: Snapshot) -> None:
    doc = {
        "id": snap.id,
        "consistency": snap.consistency,
        "created_at": snap.created_at.isoformat(),
        "block_size": BLOCK_SIZE,
        "disks": [{"key": d.key, "image": d.image.name, "size": d.size, "change_id": d.change_id} for d in snap.disks],
    }
    for folder in {cow.snapshots_root(d.image) / snap.id for d in snap.disks}:
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, folder / MANIFEST)


def open_snapshot(disk_paths: Mapping[str, Path], snapshot_id: str) -> Snapshot:
    """Reopen a snapshot (e.g. in a retried Celery task) by id."""
    if not _ID_RE.match(snapshot_id):
        raise SnapshotNotFound(f"malformed snapshot id {snapshot_id!r}")
    snap: Snapshot | None = None
    for key, path in disk_paths.items():
        path = Path(path)
        manifest = cow.snapshots_root(path) / snapshot_id / MANIFEST
        try:
            doc = json.loads(manifest.read_text())
        except FileNotFoundError as exc:
            raise SnapshotNotFound(f"snapshot {snapshot_id} not found next to {path}") from exc
        entry = next((e for e in doc["disks"] if e["key"] == key and e["image"] == path.name), None)
        if entry is None:
            raise SnapshotNotFound(f"snapshot {snapshot_id} has no disk {key!r} at {path}")
        if not cow.store_paths(path, snapshot_id)[0].exists():
            raise SnapshotDeleted(f"snapshot {snapshot_id} of {path} was deleted")
        if snap is None:
            snap = Snapshot(
                id=snapshot_id, consistency=doc["consistency"], created_at=datetime.fromisoformat(doc["created_at"])
            )
        snap.disks.append(SnapshotDisk(key, path, int(entry["size"]), entry["change_id"], snapshot_id))
    if snap is None:
        raise SnapshotNotFound("no disks given")
    return snap


def list_snapshot_ids(image: Path) -> list[str]:
    """Ids of live snapshots that include ``image``."""
    return sorted(p.parent.name for p in cow.live_store_maps(Path(image)))
