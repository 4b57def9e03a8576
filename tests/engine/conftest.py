"""Fake snapshots over real sparse files, so engine tests don't need the fabric.

FakeDisk is a live sparse image that records every write (a tiny change
tracker). FakeDisk.snapshot() copies the image with its holes preserved and
returns a FakeSnapshotDisk satisfying engine.protocols.SnapshotDisk, which
counts the bytes the engine reads.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from backup.engine import S3Store, Store, VaultStore, init_store  # noqa: E402

MiB = 1024 * 1024
CS = 4 * MiB


def data_extents(path: Path) -> list[tuple[int, int]]:
    """Allocated (offset, length) extents via SEEK_DATA/SEEK_HOLE."""
    out = []
    with open(path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: no more data
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end - start))
            pos = end
    return out


def copy_sparse(src: Path, dst: Path) -> None:
    size = src.stat().st_size
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        fo.truncate(size)
        for off, length in data_extents(src):
            fi.seek(off)
            fo.seek(off)
            remaining = length
            while remaining:
                buf = fi.read(min(remaining, 8 * MiB))
                fo.write(buf)
                remaining -= len(buf)


def merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for off, length in sorted(ranges):
        if out and off <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], off + length - out[-1][0])
        else:
            out.append([off, length])
    return [(a, b) for a, b in out]


class FakeSnapshotDisk:
    def __init__(self, key: str, path: Path, change_id: str, tracker: FakeDisk, gen: int) -> None:
        self.key = key
        self.path = path
        self.size = path.stat().st_size
        self.change_id = change_id
        self._tracker = tracker
        self._gen = gen
        self._fd = os.open(path, os.O_RDONLY)
        self._lock = threading.Lock()
        self.bytes_read = 0
        self.reads: list[tuple[int, int]] = []

    def data_ranges(self) -> list[tuple[int, int]]:
        return data_extents(self.path)

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        with self._lock:
            self.bytes_read += len(data)
            self.reads.append((offset, length))
        return data + bytes(length - len(data))

    def changed_ranges_since(self, change_id: str) -> list[tuple[int, int]] | None:
        return self._tracker.changes_between(change_id, self._gen)

    def content(self) -> bytes:
        return self.path.read_bytes()

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class FakeSnapshot:
    disks: list[FakeSnapshotDisk]
    consistency: str = "crash"
    extra: dict = field(default_factory=dict)

    def disk(self, key: str) -> FakeSnapshotDisk:
        return next(d for d in self.disks if d.key == key)


class FakeDisk:
    _ids = itertools.count()

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        with open(path, "xb") as fh:
            fh.truncate(size)
        self.size = size
        self.epoch = uuid.uuid4().hex[:8]
        self.gen = 0
        self.log: list[tuple[int, int, int]] = []  # (gen, offset, length)

    def write(self, offset: int, data: bytes) -> None:
        with open(self.path, "r+b") as fh:
            fh.seek(offset)
            fh.write(data)
        self.gen += 1
        self.log.append((self.gen, offset, len(data)))

    def reset_tracking(self) -> None:
        self.epoch = uuid.uuid4().hex[:8]
        self.log.clear()

    def changes_between(self, change_id: str, gen: int) -> list[tuple[int, int]] | None:
        epoch, _, since = change_id.partition(":")
        if epoch != self.epoch or not since.isdigit() or int(since) > gen:
            return None
        return merge([(o, n) for g, o, n in self.log if int(since) < g <= gen])

    def snapshot_disk(self, key: str, folder: Path) -> FakeSnapshotDisk:
        dst = folder / f"{key}-{next(self._ids)}.img"
        copy_sparse(self.path, dst)
        return FakeSnapshotDisk(key, dst, f"{self.epoch}:{self.gen}", self, self.gen)


@pytest.fixture
def snapper(tmp_path):
    """snapper({"os": disk, ...}) -> FakeSnapshot with copies under tmp_path/snaps."""
    folder = tmp_path / "snaps"
    folder.mkdir()
    made: list[FakeSnapshot] = []

    def take(disks: dict[str, FakeDisk], consistency: str = "crash") -> FakeSnapshot:
        snap = FakeSnapshot([d.snapshot_disk(k, folder) for k, d in disks.items()], consistency)
        made.append(snap)
        return snap

    yield take
    for snap in made:
        for d in snap.disks:
            d.close()


def pytest_generate_tests(metafunc):
    """Every engine test taking `store` runs against a folder and an S3 bucket, unless marked fs_only."""
    if "store" in metafunc.fixturenames:
        kinds = ["fs"] if metafunc.definition.get_closest_marker("fs_only") else ["fs", "s3"]
        metafunc.parametrize("store", kinds, indirect=True)


@pytest.fixture
def s3_store(request, tmp_path) -> S3Store:
    server = request.getfixturevalue("s3_server")
    store = init_store(f"s3://{server.new_bucket()}/vault", server.options(tmp_path / "s3-cache"))
    assert isinstance(store, S3Store)
    return store


@pytest.fixture
def store(request, tmp_path) -> VaultStore:
    if getattr(request, "param", "fs") == "s3":
        return request.getfixturevalue("s3_store")
    return Store.init(tmp_path / "store")


def store_location(store: VaultStore) -> tuple[str, dict | None]:
    """What a child process passes to open_store to open the same store."""
    if isinstance(store, S3Store):
        where = store.where
        opts = {
            "endpoint_url": where.endpoint_url, "access_key_id": "test", "secret_access_key": "test-secret",
            "region": "us-east-1", "path_style": True, "cache_dir": str(store.cache.root),
        }  # fmt: skip
        return f"s3://{where.bucket}/{where.prefix}", opts
    return str(store.root), None


@pytest.fixture
def make_disk(tmp_path):
    def make(name: str, size: int) -> FakeDisk:
        return FakeDisk(tmp_path / f"{name}.img", size)

    return make


def fill(disk: FakeDisk, offset: int, length: int, *, seed: int, compressible: bool = False) -> None:
    """Write `length` bytes of random (or compressible) data at `offset`."""
    if compressible:
        block = (f"seed {seed} compressible text ".encode() * (length // 20 + 1))[:length]
    else:
        block = os.urandom(length)
    disk.write(offset, block)


def allocated_bytes(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def chunk_hashes(store: VaultStore) -> list[str]:
    """Every chunk the store holds (quarantined and temporary ones excluded)."""
    if isinstance(store, S3Store):
        return [h for h, _, _ in store.iter_chunks()]
    return [entry.name for entry in store.iter_chunk_files()]


def leftovers(store: VaultStore) -> list[str]:
    """What a killed or failed backup may leave behind: temporary chunk files and leases."""
    if isinstance(store, S3Store):
        return [e["Name"] for e in store.objects.list_names("leases/")]
    names = [n for d in store.chunks_dir.iterdir() for n in os.listdir(d) if n.startswith(".")]
    return names + os.listdir(store.leases_dir)


def raw_chunk(store: VaultStore, chunk_hash: str) -> bytes:
    """The stored bytes of a chunk (header + payload), read around the engine."""
    if isinstance(store, S3Store):
        obj = store.client.get_object(Bucket=store.where.bucket, Key=store.where.key(store.chunk_name(chunk_hash)))
        return obj["Body"].read()
    return store.chunk_path(chunk_hash).read_bytes()


def write_raw_chunk(store: VaultStore, chunk_hash: str, raw: bytes) -> None:
    """Replace a chunk's stored bytes behind the engine's back (bit rot, a bad disk)."""
    if isinstance(store, S3Store):
        key = store.where.key(store.chunk_name(chunk_hash))
        store.client.put_object(Bucket=store.where.bucket, Key=key, Body=raw)
    else:
        store.chunk_path(chunk_hash).write_bytes(raw)


def remove_chunk(store: VaultStore, chunk_hash: str) -> None:
    if isinstance(store, S3Store):
        store.client.delete_object(Bucket=store.where.bucket, Key=store.where.key(store.chunk_name(chunk_hash)))
    else:
        store.chunk_path(chunk_hash).unlink()


def bad_names(store: VaultStore, chunk_hash: str) -> list[str]:
    """The names (`<hash>.N.bad`) of a chunk's quarantined copies, oldest first."""
    return [str(p).rsplit("/", 1)[-1] for p in store.quarantined(chunk_hash)]
