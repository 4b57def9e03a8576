"""Virtual disks as real sparse image files.

A disk is a raw image (offset N of the virtual disk = offset N of the file)
created with truncate, so a 1023 GiB data disk with 30 MB written occupies
30 MB. Sidecars next to the image:

* ``<image>.lock`` / ``<image>.gate`` - cross-process locks (see locks.py)
* ``<image>.cbt`` - change-tracking log (see tracking.py)
* ``snapshots/<snapshot id>/<image>.map|.cow`` - copy-on-write stores of live
  snapshots (see cow.py, snapshots.py)

``Disk.write`` is the only way guests modify a disk: under the exclusive lock
it preserves old blocks for every live snapshot, writes, and logs the range.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import cow
from .cow import data_spans, pread_full, pwrite_full
from .locks import disk_exclusive, disk_shared, lock_paths
from .ranges import Range, to_ranges
from .tracking import ChangeLog

_COPY_CHUNK = 8 * 1024 * 1024


class DiskError(Exception):
    pass


def tracking_path(image: Path) -> Path:
    return image.with_name(image.name + ".cbt")


class Disk:
    """A handle on an image file. Cheap; holds no descriptor between calls,
    so handles may be created freely in any process or thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._size = os.stat(self.path).st_size
        self._log = ChangeLog(tracking_path(self.path))

    def __repr__(self) -> str:
        return f"Disk({str(self.path)!r}, size={self._size})"

    # -- lifecycle -------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, max_size: int) -> Disk:
        path = Path(path)
        if max_size <= 0:
            raise ValueError("max_size must be positive")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as fh:  # never clobber an existing image
            fh.truncate(max_size)
        disk = cls(path)
        with disk_exclusive(path):
            disk._log.reset()
        return disk

    @classmethod
    def open(cls, path: Path) -> Disk:
        path = Path(path)
        if not path.is_file():
            raise DiskError(f"no disk image at {path}")
        disk = cls(path)
        if not disk._log.path.exists():
            with disk_exclusive(path):
                disk._log.ensure()
        return disk

    @property
    def size(self) -> int:
        """Maximum (virtual) size in bytes."""
        return self._size

    def delete(self) -> None:
        """Remove the image, its sidecars and its copy-on-write stores."""
        root = cow.snapshots_root(self.path)
        with disk_exclusive(self.path):
            for map_path in cow.live_store_maps(self.path):
                cow.remove_store(self.path, map_path.parent.name)
            self.path.unlink(missing_ok=True)
            self._log.path.unlink(missing_ok=True)
        for sidecar in lock_paths(self.path):
            sidecar.unlink(missing_ok=True)
        if root.is_dir():
            for folder in root.iterdir():
                # A snapshot folder left with only its manifest is dead.
                if folder.is_dir() and not any(p.suffix in (".map", ".cow") for p in folder.iterdir()):
                    shutil.rmtree(folder, ignore_errors=True)
            _rmdir_if_empty(root)

    # -- I/O ----------------------------------------------------------------------
    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self._size:
            raise ValueError(f"range {offset}+{length} outside disk of {self._size} bytes")

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Guest write: copy-on-write for live snapshots, then write, then log."""
        length = len(data)
        self._check(offset, length)
        if length == 0:
            return
        with disk_exclusive(self.path):
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            try:
                for map_path in cow.live_store_maps(self.path):
                    cow.preserve(map_path, fd, self._size, offset, length)
                pwrite_full(fd, data, offset)
            finally:
                os.close(fd)
            self._log.record_write(offset, length)

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        with disk_shared(self.path):
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                return pread_full(fd, length, offset)
            finally:
                os.close(fd)

    def data_ranges(self) -> list[Range]:
        """Allocated extents (offset, length), via SEEK_DATA/SEEK_HOLE."""
        with disk_shared(self.path):
            return to_ranges(live_data_spans(self.path, self._size))

    def allocated_bytes(self) -> int:
        """Bytes of actual data (the sum of the allocated extents)."""
        return sum(length for _, length in self.data_ranges())

    # -- change tracking --------------------------------------------------------
    def change_id(self) -> str:
        with disk_exclusive(self.path):  # exclusive: it records the id handed out
            return self._log.change_id()

    def changed_ranges_since(self, change_id: str) -> list[Range] | None:
        """Exact merged ranges written since ``change_id``; None = unknown/reset."""
        with disk_shared(self.path):
            return self._log.ranges_between(change_id)

    def reset_tracking(self) -> None:
        with disk_exclusive(self.path):
            self._log.reset()

    # -- copies -----------------------------------------------------------------
    def clone_to(self, path: Path) -> Disk:
        """A new disk with identical content (holes preserved), fresh tracking."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with disk_shared(self.path):
            src = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                with open(path, "xb") as fh:
                    fh.truncate(self._size)
                    dst = fh.fileno()
                    for start, end in data_spans(src, 0, self._size):
                        pos = start
                        while pos < end:
                            n = min(_COPY_CHUNK, end - pos)
                            pwrite_full(dst, pread_full(src, n, pos), pos)
                            pos += n
            finally:
                os.close(src)
        clone = Disk(path)
        with disk_exclusive(path):
            clone._log.reset()
        return clone

    @staticmethod
    def actual_size_of(path: Path) -> int:
        """Allocated bytes of any image file (no lock; for reporting)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return sum(e - s for s, e in data_spans(fd, 0, os.fstat(fd).st_size))
        finally:
            os.close(fd)


def live_data_spans(image: Path, size: int) -> list[tuple[int, int]]:
    fd = os.open(image, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return data_spans(fd, 0, size)
    finally:
        os.close(fd)


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


__all__ = ["Disk", "DiskError", "tracking_path"]
