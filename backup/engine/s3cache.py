"""The local cache of an object-storage store: manifests, recently read chunks, and the known-chunk index.

    <cache>/manifests/<point>.<etag>.json   committed manifests; keyed by ETag, so a rewritten one is not mistaken
    <cache>/chunks/<hash>                   raw chunk objects (header + payload), an LRU bounded by bytes
    <cache>/known-<generation>.idx          hashes known to exist in the bucket at that GC generation

The index lets a backup deduplicate without a HEAD per chunk. It is only trusted under a lease (no GC can
run then) and only for the generation it was built at: everything that deletes chunks (GC, a failed
backup's clean-up, quarantine) writes a new generation object first, and the index is then rebuilt from a
bucket listing. Cached chunks are re-hashed on every read like remote ones; a bad cached copy is dropped.
Chunks read from the bucket are written to the cache by a thread of its own, best effort: when it lags
(a slow local disk) they are not cached, so a big restore runs at the speed of its GETs, not of the cache;
a restore of more than half the cache offers none (restore.py).
"""

from __future__ import annotations

import hashlib
import os
import queue
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from . import fsutil

CHUNK_CACHE_BYTES = 512 * 1024 * 1024
WRITE_QUEUE = 8  # chunks waiting for the cache writer (memory: 8 x 4 MiB at most); more are not cached


def default_cache_dir(identity: str) -> Path:
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"vault-s3-cache-{digest}"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = fsutil.tmp_name(path.parent, "c-")
    Path(tmp).write_bytes(data)
    os.replace(tmp, path)


class LocalCache:
    def __init__(self, root: Path, chunk_bytes: int = CHUNK_CACHE_BYTES) -> None:
        self.root = root
        self.chunk_bytes = chunk_bytes
        self._lock = threading.Lock()
        self._lru: OrderedDict[str, int] = OrderedDict()
        (root / "chunks").mkdir(parents=True, exist_ok=True)
        (root / "manifests").mkdir(parents=True, exist_ok=True)
        entries = []
        for entry in os.scandir(root / "chunks"):
            if not entry.name.startswith("."):
                st = entry.stat()
                entries.append((st.st_mtime, entry.name, st.st_size))
        for _, name, size in sorted(entries):
            self._lru[name] = size
        self._used = sum(self._lru.values())
        self._pending: queue.Queue[tuple[str, bytes]] = queue.Queue(WRITE_QUEUE)
        self._writer: threading.Thread | None = None

    # --- manifests ------------------------------------------------------------
    def _manifest_path(self, point_id: str, etag: str) -> Path:
        return self.root / "manifests" / f"{point_id}.{etag.strip(chr(34))}.json"

    def manifest(self, point_id: str, etag: str) -> bytes | None:
        try:
            return self._manifest_path(point_id, etag).read_bytes()
        except FileNotFoundError:
            return None

    def put_manifest(self, point_id: str, etag: str, raw: bytes) -> None:
        _write(self._manifest_path(point_id, etag), raw)

    def forget_other_manifests(self, listed: set[tuple[str, str]]) -> None:
        """Drop cached manifests the bucket does not list any more (pruned): the cache stays as big as the store."""
        keep = {self._manifest_path(point_id, etag).name for point_id, etag in listed}
        for entry in os.scandir(self.root / "manifests"):
            if entry.name.endswith(".json") and entry.name not in keep:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass

    # --- chunks -----------------------------------------------------------------
    def chunk(self, chunk_hash: str) -> bytes | None:
        try:
            raw = (self.root / "chunks" / chunk_hash).read_bytes()
        except FileNotFoundError:
            return None
        with self._lock:
            if chunk_hash in self._lru:
                self._lru.move_to_end(chunk_hash)
        return raw

    def put_chunk(self, chunk_hash: str, raw: bytes) -> None:
        if len(raw) > self.chunk_bytes:
            return
        _write(self.root / "chunks" / chunk_hash, raw)
        with self._lock:
            self._used += len(raw) - self._lru.pop(chunk_hash, 0)
            self._lru[chunk_hash] = len(raw)
            while self._used > self.chunk_bytes and self._lru:
                old, size = self._lru.popitem(last=False)
                self._used -= size
                self.drop_chunk(old)

    def offer_chunk(self, chunk_hash: str, raw: bytes) -> None:
        """Cache a chunk in the background if the writer keeps up; drop it otherwise."""
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="s3-cache-writer", daemon=True)
                self._writer.start()
        try:
            self._pending.put_nowait((chunk_hash, raw))
        except queue.Full:
            pass

    def _write_loop(self) -> None:
        while True:
            chunk_hash, raw = self._pending.get()
            try:
                self.put_chunk(chunk_hash, raw)
            except OSError:
                pass  # a cache that cannot be written is only a slower store
            finally:
                self._pending.task_done()

    def drain(self) -> None:
        """Wait until the chunks offered so far are written."""
        self._pending.join()

    def drop_chunk(self, chunk_hash: str) -> None:
        try:
            os.unlink(self.root / "chunks" / chunk_hash)
        except FileNotFoundError:
            pass

    # --- the known-chunk index ------------------------------------------------
    def _index_path(self, generation: str) -> Path:
        return self.root / f"known-{hashlib.sha256(generation.encode()).hexdigest()[:16]}.idx"

    def known(self, generation: str) -> set[str] | None:
        try:
            return set(self._index_path(generation).read_text().split())
        except FileNotFoundError:
            return None

    def save_known(self, generation: str, hashes: set[str]) -> None:
        for old in self.root.glob("known-*.idx"):
            if old != self._index_path(generation):
                old.unlink(missing_ok=True)
        _write(self._index_path(generation), "\n".join(sorted(hashes)).encode())
