"""Copy-on-write stores: what a snapshot needs to remember of one disk.

Per snapshot and disk, under ``<disk dir>/snapshots/<snapshot id>/``:

* ``<image name>.map`` - one byte per 64 KiB block, 1 = "the block's
  snapshot-time content has been saved". A sparse file of ceil(size/64K)
  bytes, so a 1023 GiB disk costs nothing until blocks are saved. Its
  existence is what makes ``Disk.write`` preserve blocks for the snapshot.
* ``<image name>.cow`` - a sparse file as large as the disk; a saved block
  lives at its own offset. Only the *data* segments of the old block are
  copied (found with SEEK_DATA/SEEK_HOLE), so holes in the old block stay
  holes here and the snapshot's allocated extents remain exact: a block that
  was a hole at snapshot time is marked saved but has no data in the store.

Everything here runs under the disk lock: exclusive while saving (inside
``Disk.write``), shared while reading through a snapshot.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from .ranges import Span

BLOCK_SIZE = 64 * 1024
SNAPSHOTS_DIR = "snapshots"
_SAVED = re.compile(rb"[^\x00]+")
_COPY_CHUNK = 8 * 1024 * 1024


def snapshots_root(image: Path) -> Path:
    return image.parent / SNAPSHOTS_DIR


def store_paths(image: Path, snapshot_id: str) -> tuple[Path, Path]:
    """(map, cow) files of ``image`` in snapshot ``snapshot_id``."""
    folder = snapshots_root(image) / snapshot_id
    return folder / (image.name + ".map"), folder / (image.name + ".cow")


def block_count(size: int) -> int:
    return (size + BLOCK_SIZE - 1) // BLOCK_SIZE


def live_store_maps(image: Path) -> list[Path]:
    """Map files of every live snapshot of ``image`` (one listdir per write)."""
    root = snapshots_root(image)
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        candidate = Path(entry.path) / (image.name + ".map")
        if candidate.exists():
            found.append(candidate)
    return found


def data_spans(fd: int, start: int, end: int) -> list[Span]:
    """Allocated (start, end) spans of an open file within [start, end)."""
    spans: list[Span] = []
    pos = start
    while pos < end:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                break
            raise
        if data >= end:
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        spans.append((data, min(hole, end)))
        pos = hole
    return spans


def pread_full(fd: int, length: int, offset: int) -> bytes:
    data = os.pread(fd, length, offset)
    if len(data) == length:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:  # past EOF: the rest reads as zeros
            parts.append(bytes(length - got))
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def pwrite_full(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def saved_runs(map_bytes: bytes, first_block: int) -> list[tuple[int, int]]:
    """Runs of saved blocks as (first block, end block) from a map slice."""
    return [(first_block + m.start(), first_block + m.end()) for m in _SAVED.finditer(map_bytes)]


def create_store(image: Path, snapshot_id: str, size: int) -> None:
    map_path, cow_path = store_paths(image, snapshot_id)
    map_path.parent.mkdir(parents=True, exist_ok=True)
    with open(cow_path, "wb") as fh:
        fh.truncate(size)
    # The map is created last: its existence switches copy-on-write on.
    tmp = map_path.with_name(map_path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.truncate(block_count(size))
    os.replace(tmp, map_path)


def remove_store(image: Path, snapshot_id: str) -> None:
    map_path, cow_path = store_paths(image, snapshot_id)
    map_path.unlink(missing_ok=True)  # first: stops copy-on-write
    cow_path.unlink(missing_ok=True)


def preserve(map_path: Path, live_fd: int, size: int, offset: int, length: int) -> None:
    """Save the not-yet-saved blocks of [offset, offset+length) before a write.

    Caller holds the disk's exclusive lock. Order matters for a crash: old
    data first, then the map byte, then (in the caller) the live write.
    """
    cow_path = map_path.with_name(map_path.name[: -len(".map")] + ".cow")
    first = offset // BLOCK_SIZE
    last = (offset + length - 1) // BLOCK_SIZE
    try:
        map_fd = os.open(map_path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:  # snapshot deleted meanwhile
        return
    try:
        current = pread_full(map_fd, last - first + 1, first)
        if current.count(0) == 0:
            return  # all blocks already saved
        cow_fd = os.open(cow_path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            # Copy contiguous runs of unsaved blocks, data segments only.
            for run_start, run_end in _zero_runs(current, first):
                lo = run_start * BLOCK_SIZE
                hi = min(run_end * BLOCK_SIZE, size)
                for seg_start, seg_end in data_spans(live_fd, lo, hi):
                    pos = seg_start
                    while pos < seg_end:
                        n = min(_COPY_CHUNK, seg_end - pos)
                        pwrite_full(cow_fd, pread_full(live_fd, n, pos), pos)
                        pos += n
        finally:
            os.close(cow_fd)
        pwrite_full(map_fd, b"\x01" * len(current), first)  # every touched block is now saved
    finally:
        os.close(map_fd)


_UNSAVED = re.compile(rb"\x00+")


def _zero_runs(map_bytes: bytes, first_block: int) -> list[tuple[int, int]]:
    return [(first_block + m.start(), first_block + m.end()) for m in _UNSAVED.finditer(map_bytes)]


def saved_block_spans(map_path: Path, size: int) -> list[Span]:
    """All saved blocks as merged byte spans (uses the map's own sparseness)."""
    spans: list[Span] = []
    fd = os.open(map_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for start, end in data_spans(fd, 0, block_count(size)):
            chunk = pread_full(fd, end - start, start)
            for b0, b1 in saved_runs(chunk, start):
                span = (b0 * BLOCK_SIZE, min(b1 * BLOCK_SIZE, size))
                if spans and spans[-1][1] == span[0]:
                    spans[-1] = (spans[-1][0], span[1])
                else:
                    spans.append(span)
    finally:
        os.close(fd)
    return spans
