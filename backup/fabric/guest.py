"""A guest workload: what the applications inside a running VM do to its disks.

Guests write only through ``Disk.write`` (so writes are change-tracked and
copy-on-write aware). Each "file" is written in several chunks plus a small
file-table record, i.e. as a multi-block operation; the whole file is written
while holding the VM's guest-writer lock. An application-consistent snapshot
takes the same lock (that is what VSS quiescing means here), so it lands
before or after a file, never inside one. Crash-consistent snapshots don't
wait and may catch a half-written file, exactly like the real thing.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .disks import Disk
from .locks import file_lock

GUEST_LOCK_NAME = "guest-writer.lock"
CHUNK = 256 * 1024  # guests write in pieces, like a filesystem flushing pages
FILE_TABLE_BYTES = 1024 * 1024  # first MiB of each disk: "filesystem metadata"
FILE_TABLE_SLOT = 4096
MIN_USED_AREA = 64 * 1024 * 1024

_WORDS = (
    "backup",
    "vault",
    "azure",
    "virtual",
    "machine",
    "storage",
    "account",
    "recovery",
    "point",
    "policy",
    "retention",
    "job",
    "protected",
    "item",
    "extension",
    "agent",
    "snapshot",
    "consistency",
    "region",
    "cloud",
    "service",
    "subscription",
    "container",
    "blob",
    "page",
    "disk",
    "restore",
    "schedule",
    "daily",
    "weekly",
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "log",
    "error",
    "info",
    "warn",
)


@contextmanager
def guest_writer_lock(vm_dir: Path) -> Iterator[None]:
    """The VM's guest-writer lock (cross-process). Guest file writes and
    application-consistent snapshots both hold it."""
    vm_dir = Path(vm_dir)
    vm_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(vm_dir / GUEST_LOCK_NAME, exclusive=True):
        yield


@dataclass(frozen=True)
class GuestFileWrite:
    disk_key: str
    offset: int
    length: int
    kind: str  # "text" (compressible) or "binary" (incompressible)
    sha256: str


@dataclass
class GuestWriteReport:
    files: list[GuestFileWrite] = field(default_factory=list)

    @property
    def bytes_written(self) -> int:
        return sum(f.length for f in self.files)

    def ranges(self, disk_key: str) -> list[tuple[int, int]]:
        return [(f.offset, f.length) for f in self.files if f.disk_key == disk_key]


def text_bytes(rng: random.Random, n: int) -> bytes:
    """Log-like text: compresses well, like most real guest data."""
    out: list[str] = []
    size = 0
    line_no = rng.randrange(1_000_000)
    while size < n:
        line = f"{line_no:08d} " + " ".join(rng.choices(_WORDS, k=rng.randint(6, 14))) + "\n"
        out.append(line)
        size += len(line)
        line_no += 1
    # Repeat a block of generated lines to be quick for multi-MB files.
    blob = "".join(out).encode()
    return blob[:n]


def _fast_text(rng: random.Random, n: int) -> bytes:
    unit = text_bytes(rng, min(n, 64 * 1024))
    reps = n // len(unit) + 1
    return (unit * reps)[:n]


def file_content(rng: random.Random, n: int, kind: str) -> bytes:
    return rng.randbytes(n) if kind == "binary" else _fast_text(rng, n)


def used_area(disk: Disk) -> int:
    """End of the region a guest writes into: where its data already is
    (at least 64 MiB), so incrementals stay small and images don't balloon."""
    ranges = disk.data_ranges()
    end = ranges[-1][0] + ranges[-1][1] if ranges else 0
    return min(disk.size, max(end, MIN_USED_AREA))


def write_file(disk: Disk, offset: int, data: bytes, slot: int) -> None:
    """Write file content in chunks, then its file-table record (a
    multi-block operation; callers hold the guest-writer lock)."""
    for pos in range(0, len(data), CHUNK):
        disk.write(offset + pos, data[pos : pos + CHUNK])
    record = f"FILE {offset} {len(data)} {hashlib.sha256(data).hexdigest()}\n".encode()
    disk.write(slot * FILE_TABLE_SLOT, record.ljust(FILE_TABLE_SLOT, b"\0"))


def run_guest_writes(
    disks: Mapping[str, Disk],
    rng: random.Random,
    files: int = 5,
    *,
    vm_dir: Path | None = None,
    min_file: int = 4 * 1024,
    max_file: int = 4 * 1024 * 1024,
    text_share: float = 0.6,
) -> GuestWriteReport:
    """Write ``files`` files at random offsets within each disk's used area.

    With ``vm_dir`` each file is written under the VM's guest-writer lock, so
    application-consistent snapshots see whole files only. Pass only the
    disks a guest writes to (e.g. skip nothing: the resource disk is fine).
    """
    report = GuestWriteReport()
    keys = sorted(disks)
    if not keys:
        return report
    for _ in range(files):
        key = rng.choice(keys)
        disk = disks[key]
        # Log-uniform size: mostly small files, a few MB-sized ones.
        n = int(min_file * (max_file / min_file) ** rng.random())
        area = used_area(disk)
        lo = min(FILE_TABLE_BYTES, disk.size)
        hi = max(lo, area - n)
        offset = rng.randrange(lo, hi + 1) // 4096 * 4096
        n = min(n, disk.size - offset)
        kind = "text" if rng.random() < text_share else "binary"
        data = file_content(rng, n, kind)
        slot = rng.randrange(FILE_TABLE_BYTES // FILE_TABLE_SLOT)
        lock = guest_writer_lock(vm_dir) if vm_dir is not None else _no_lock()
        with lock:
            write_file(disk, offset, data, slot)
        report.files.append(GuestFileWrite(key, offset, n, kind, hashlib.sha256(data).hexdigest()))
    return report


@contextmanager
def _no_lock() -> Iterator[None]:
    yield


def populate_disk(disk: Disk, rng: random.Random, data_bytes: int) -> None:
    """Give a new disk realistic initial data quickly: a file table, then
    files in a few clustered extents (like a fresh filesystem), ~60% text."""
    if data_bytes <= 0:
        return
    data_bytes = min(data_bytes, disk.size - FILE_TABLE_BYTES)
    disk.write(0, b"FSHDR1\n".ljust(FILE_TABLE_SLOT, b"\0"))
    written = 0
    cursor = FILE_TABLE_BYTES
    slot = 1
    while written < data_bytes and cursor < disk.size:
        n = min(data_bytes - written, rng.choice((256 * 1024, 1024 * 1024, 4 * 1024 * 1024)), disk.size - cursor)
        kind = "text" if rng.random() < 0.6 else "binary"
        data = file_content(rng, n, kind)
        write_file(disk, cursor, data, slot % (FILE_TABLE_BYTES // FILE_TABLE_SLOT) or 1)
        slot += 1
        written += n
        # Leave occasional gaps so images have several extents, like a real FS.
        cursor += n + (rng.choice((0, 0, 0, 1, 16)) * 1024 * 1024)
