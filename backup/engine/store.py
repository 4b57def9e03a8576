"""The content-addressed chunk store and the manifest folder of a vault.

Layout (see the package docstring for the whole design):

    <root>/vault-store.json        marker: format name, version, chunk size
    <root>/chunks/<hh>/<hash>      one file per chunk, hh = first 2 hex digits
    <root>/manifests/<point>.json  committed recovery points
    <root>/leases/<id>.lease       live backups (see leases.py)
    <root>/chunks/<hh>/<hash>.N.bad  a quarantined chunk (N = 0, 1, ...)

Chunk file = 1 header byte (0 = raw, 1 = zstd) + payload. The name is the
BLAKE3 hash of the *uncompressed* data, checked on every read.

A read that finds a chunk corrupt moves it aside to `<hash>.N.bad` (as
Proxmox Backup Server does) instead of deleting it: the evidence is kept for
an operator, and the chunk's own name is free again, so touch_chunk() fails
and the next backup holding that data re-reads and rewrites it, which heals
every point sharing it. GC never sweeps a `.bad` file.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from . import fsutil
from .chunkformat import (
    BAD_SUFFIX,
    CHUNK_SIZE,
    MARKER,
    PutResult,
    StoreStats,
    chunk_size_of_marker,
    marker,
    pack,
    unpack,
)
from .errors import CorruptChunk, EngineError, MissingChunk, NotAStore
from .leases import Lease
from .manifest import Manifest, check_hash, check_id
from .pending import ChunkReservations, PendingChunks

GC_PREFIX = ".gc-"  # a chunk being swept (gc.py); readers fall back to it
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK}
# Access time a new chunk file gets from its writer. Touching a chunk (utime to now) replaces it, so a
# failed backup can tell the chunks nobody deduplicated onto since it wrote them (backup.discard_fresh_chunks).
FRESH_ATIME_NS = 1
_KNOWN = {MARKER, "chunks", "manifests", "leases", "holds"}
_FANOUT = [f"{i:02x}" for i in range(256)]


def _read_with_inode(path: Path) -> tuple[bytes, int]:
    with open(path, "rb") as fh:
        return fh.read(), os.fstat(fh.fileno()).st_ino


class Store:
    def __init__(self, root: Path, chunk_size: int = CHUNK_SIZE) -> None:
        self.root = root
        self.chunk_size = chunk_size
        self.chunks_dir = root / "chunks"
        self.manifests_dir = root / "manifests"
        self.leases_dir = root / "leases"

    # --- creation -----------------------------------------------------------
    @classmethod
    def init(cls, path: str | os.PathLike) -> Store:
        """Create a store in `path` (idempotent). Refuses a foreign non-empty folder."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        if (root / MARKER).exists():
            return cls.open(root)
        foreign = [p.name for p in root.iterdir() if p.name not in _KNOWN and not p.name.startswith(fsutil.TMP_PREFIX)]
        if foreign:
            raise NotAStore(f"{root} is not empty and is not a vault store (found {sorted(foreign)[:3]})")
        for sub in ("chunks", "manifests", "leases"):
            (root / sub).mkdir(exist_ok=True)
        # Pre-create the fan-out so the hot path never creates directories.
        for name in _FANOUT:
            (root / "chunks" / name).mkdir(exist_ok=True)
        for name in _FANOUT:
            fsutil.fsync_dir(root / "chunks" / name)
        for sub in ("chunks", "manifests", "leases"):
            fsutil.fsync_dir(root / sub)
        fsutil.write_file_durable(root / MARKER, [marker()])
        return cls(root)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Store:
        root = Path(path)
        try:
            raw = (root / MARKER).read_bytes()
        except FileNotFoundError:
            raise NotAStore(f"{root} is not a vault store (no {MARKER})") from None
        except OSError as exc:
            raise NotAStore(f"{root} is not a vault store ({exc})") from None
        return cls(root, chunk_size_of_marker(root, raw))

    # --- chunks -------------------------------------------------------------
    def chunk_path(self, chunk_hash: str) -> Path:
        return self.chunks_dir / chunk_hash[:2] / chunk_hash

    def has_chunk(self, chunk_hash: str) -> bool:
        """Whether the chunk is there (a stat, nothing read)."""
        return self.chunk_path(check_hash(chunk_hash)).exists()

    def touch_chunk(self, chunk_hash: str) -> bool:
        """Mark a chunk as in use (mtime = now) for GC. False if it does not exist.

        utime is the existence check itself, so GC cannot slip between a
        check and a touch (see gc.py for the other half of the protocol).
        """
        try:
            os.utime(self.chunk_path(chunk_hash))
            return True
        except FileNotFoundError:
            return False

    def put_chunk(
        self, chunk_hash: str, data: bytes | memoryview, pending: ChunkReservations | None = None
    ) -> PutResult:
        """Store `data` under its hash unless present (then only touch it).

        The caller must call sync_chunk_dirs() before committing a manifest:
        chunk files are fsynced here, their directory entries in one batch.
        With `pending`, the file is written without fsync and gets its name at
        pending.flush() (see pending.py), which must also come first.
        """
        if self.touch_chunk(chunk_hash):
            return PutResult(False, 0, 0)
        if pending is not None and not pending.reserve(chunk_hash):
            return PutResult(False, 0, 0)
        header, payload = pack(data)
        path = self.chunk_path(chunk_hash)
        if not isinstance(pending, PendingChunks):
            fsutil.write_file_durable(path, [header, payload], sync_dir=False, atime_ns=FRESH_ATIME_NS)
        else:
            try:
                tmp = fsutil.write_tmp(path, [header, payload], sync=False, atime_ns=FRESH_ATIME_NS)
            except BaseException:
                pending.release(chunk_hash)
                raise
            pending.add(chunk_hash, tmp, path, len(payload) + 1)
        return PutResult(True, len(payload), len(payload) + 1)

    def sync_chunk_dirs(self, prefixes: set[str] | None = None) -> None:
        """Make renamed chunk files durable (batched directory fsync)."""
        for name in sorted(prefixes if prefixes is not None else _FANOUT):
            fsutil.fsync_dir(self.chunks_dir / name)

    def new_pending(self) -> PendingChunks:
        return PendingChunks(self.chunks_dir)

    def lease(self, purpose: str) -> Lease:
        """Hold a backup lease (leases.py) while chunks are written or touched for a manifest."""
        return Lease(self.leases_dir, purpose)

    def discard_fresh_chunks(self, hashes: set[str]) -> int:
        """Remove chunks this (failed) backup wrote, unless someone touched one since; returns the bytes freed.

        Nothing can reference such a chunk but a backup that deduplicated onto it, and deduplicating touches it
        (touch_chunk), which replaces the FRESH_ATIME_NS mark its writer stamped. So, as GC sweeps: rename
        it out of sight, re-stat, and put it back if the mark is gone; a backup touching it after the rename gets
        ENOENT and writes the chunk again. A reader can also clear the mark (atime): the chunk is then kept, and
        GC frees it later.
        """
        freed = 0
        for h in hashes:
            path = self.chunk_path(h)
            hidden = path.parent / (GC_PREFIX + h)
            try:
                if os.stat(path).st_atime_ns != FRESH_ATIME_NS:
                    continue
                os.rename(path, hidden)
            except FileNotFoundError:
                continue
            st = os.stat(hidden)
            if st.st_atime_ns != FRESH_ATIME_NS:
                os.rename(hidden, path)
                continue
            os.unlink(hidden)
            freed += st.st_size
        if hashes:
            self.sync_chunk_dirs({h[:2] for h in hashes})
        return freed

    def free_bytes(self) -> int | None:
        """Space an unprivileged writer may still use on the store's file system."""
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    chunk_cache_bytes = 0  # a folder store has no cache: use_cache and keep mean nothing here

    def read_chunk(
        self, chunk_hash: str, expected_length: int | None = None, *, use_cache: bool = True, keep: bool = True
    ) -> bytes:
        """Return the uncompressed chunk; raise MissingChunk / CorruptChunk."""
        check_hash(chunk_hash)
        path = self.chunk_path(chunk_hash)
        inode = None
        try:
            raw, inode = _read_with_inode(path)
        except FileNotFoundError:
            try:  # a GC sweep may hold it under its temporary name for a moment
                raw = (path.parent / (GC_PREFIX + chunk_hash)).read_bytes()
            except FileNotFoundError:
                if self.quarantined(chunk_hash):
                    raise CorruptChunk(chunk_hash, detail="quarantined") from None
                raise MissingChunk(chunk_hash) from None
        try:
            data = self._unpack(chunk_hash, raw)
        except CorruptChunk:
            if inode is not None:
                self.quarantine_chunk(chunk_hash, inode=inode)
            raise
        if expected_length is not None and len(data) != expected_length:
            # The chunk itself is sound (its hash matches): the manifest is wrong, so nothing is moved aside.
            raise CorruptChunk(chunk_hash, detail=f"length {len(data)} != {expected_length}")
        return data

    def _unpack(self, chunk_hash: str, raw: bytes) -> bytes:
        return unpack(chunk_hash, raw, self.chunk_size)

    def quarantine_chunk(self, chunk_hash: str, inode: int | None = None) -> Path | None:
        """Move a corrupt chunk aside to `<hash>.N.bad` (lowest free N); None if it was not there.

        link + unlink, not rename: rename would silently replace an earlier
        `.bad` file another reader created at the same moment. With `inode`
        (the file the caller found corrupt), a file that is not that one any
        more (another reader moved it aside and a backup rewrote it) stays.
        """
        check_hash(chunk_hash)
        path = self.chunk_path(chunk_hash)
        for n in range(1000):
            bad = path.parent / f"{chunk_hash}.{n}{BAD_SUFFIX}"
            try:
                os.link(path, bad)
            except FileExistsError:
                continue
            except FileNotFoundError:
                return None  # already moved aside (or swept) by someone else
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                if bad.exists():
                    continue
                try:  # a file system without hard links: rename, accepting the race described above
                    os.rename(path, bad)
                except FileNotFoundError:
                    return None
                fsutil.fsync_dir(path.parent)
                return bad
            if inode is not None and os.stat(bad).st_ino != inode:
                os.unlink(bad)
                return None
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            fsutil.fsync_dir(path.parent)
            return bad
        raise EngineError(f"chunk {chunk_hash} was quarantined too many times")

    def quarantined(self, chunk_hash: str) -> list[Path]:
        """The `.bad` files kept for a chunk, oldest first."""
        d = self.chunk_path(chunk_hash).parent
        found = [(int(p.name.split(".")[1]), p) for p in d.glob(f"{chunk_hash}.*{BAD_SUFFIX}")]
        return [p for _, p in sorted(found)]

    def iter_chunk_files(self):
        """Yield os.DirEntry of every chunk file (temporary names and quarantined chunks excluded)."""
        for name in _FANOUT:
            with os.scandir(self.chunks_dir / name) as it:
                for entry in it:
                    if not entry.name.startswith(".") and not entry.name.endswith(BAD_SUFFIX):
                        yield entry

    # --- manifests ----------------------------------------------------------
    def manifest_path(self, point_id: str) -> Path:
        return self.manifests_dir / f"{check_id(point_id, 'point_id')}.json"

    def has_manifest(self, point_id: str) -> bool:
        return self.manifest_path(point_id).exists()

    def commit_manifest(self, manifest: Manifest) -> None:
        """Atomically publish a manifest. Its chunks must already be durable."""
        fsutil.write_file_durable(self.manifest_path(manifest.point_id), [manifest.to_json()])

    def load_manifest(self, point_id: str) -> Manifest:
        try:
            raw = self.manifest_path(point_id).read_bytes()
        except FileNotFoundError:
            raise EngineError(f"recovery point {point_id} does not exist in the store") from None
        return Manifest.from_json(raw)

    def list_manifests(self, item: str | None = None) -> list[Manifest]:
        """Committed manifests, oldest first; temporary/trash files are ignored."""
        out = []
        for entry in os.scandir(self.manifests_dir):
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue
            try:
                m = Manifest.from_json(Path(entry.path).read_bytes())
            except FileNotFoundError:  # pruned meanwhile
                continue
            if item is None or m.item == item:
                out.append(m)
        out.sort(key=lambda m: (m.time, m.point_id))
        return out

    def delete_manifest(self, point_id: str) -> bool:
        """Remove one manifest atomically: rename to a trash name, unlink, fsync dir."""
        path = self.manifest_path(point_id)
        trash = fsutil.tmp_name(self.manifests_dir, "trash-")
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return False
        os.unlink(trash)
        fsutil.fsync_dir(self.manifests_dir)
        return True

    # --- holds (holds.py) ----------------------------------------------------
    def _hold_path(self, item: str) -> Path:
        return self.root / "holds" / f"{check_id(item, 'item')}.json"

    def put_hold(self, item: str, raw: bytes) -> None:
        (self.root / "holds").mkdir(exist_ok=True)
        fsutil.write_file_durable(self._hold_path(item), [raw])

    def read_hold(self, item: str) -> bytes | None:
        try:
            return self._hold_path(item).read_bytes()
        except FileNotFoundError:
            return None

    def delete_hold(self, item: str) -> bool:
        try:
            os.unlink(self._hold_path(item))
        except FileNotFoundError:
            return False
        fsutil.fsync_dir(self.root / "holds")
        return True

    def held_items(self) -> list[str]:
        folder = self.root / "holds"
        if not folder.is_dir():
            return []
        names = (e.name for e in os.scandir(folder))
        return [n[: -len(".json")] for n in names if n.endswith(".json") and not n.startswith(".")]

    def stats(self) -> StoreStats:
        count = size = 0
        for entry in self.iter_chunk_files():
            try:
                size += entry.stat().st_size
            except FileNotFoundError:
                continue
            count += 1
        logical = sum(m.logical_bytes for m in self.list_manifests())
        return StoreStats(count, size, logical)
