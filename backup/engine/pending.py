"""Chunk files a backup wrote under temporary names and has not made durable yet.

fsync per chunk file costs a journal commit each; instead the backup's chunks are written without it, and
flush() makes a batch durable together (fsutil.sync_files: one syncfs for a big one), then renames them to
their names. So a chunk's name still appears only once its data is durable, and the manifest only after the
last flush. A crash leaves the unflushed ones as temporary files, which GC removes (they are younger than the
backup's lease while it lives). Until its flush, a chunk is only in this batch: a second read of the same
data in this backup finds it here (reserve), another process's backup writes its own copy, and the rename of
the second copy replaces the first with the same bytes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from . import fsutil


class ChunkReservations:
    """The chunks a backup writes or wrote, so that the same data twice is written once. An object store's
    PUT is durable and visible when it returns, so there it is all a backup needs (nothing to flush)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reserved: set[str] = set()

    def reserve(self, chunk_hash: str) -> bool:
        """Claim writing a chunk; False when this backup already writes or wrote it."""
        with self._lock:
            if chunk_hash in self._reserved:
                return False
            self._reserved.add(chunk_hash)
            return True

    def release(self, chunk_hash: str) -> None:
        with self._lock:
            self._reserved.discard(chunk_hash)

    @property
    def unflushed_bytes(self) -> int:
        return 0

    def flush(self) -> None:
        pass

    def discard(self) -> None:
        pass


class PendingChunks(ChunkReservations):
    def __init__(self, chunks_dir: Path) -> None:
        super().__init__()
        self._chunks_dir = chunks_dir
        self._flush_lock = threading.Lock()
        self._written: dict[str, tuple[Path, Path, int]] = {}  # hash -> (tmp, final, file bytes)

    def add(self, chunk_hash: str, tmp: Path, final: Path, nbytes: int) -> None:
        with self._lock:
            self._written[chunk_hash] = (tmp, final, nbytes)

    @property
    def unflushed_bytes(self) -> int:
        with self._lock:
            return sum(n for _, _, n in self._written.values())

    def flush(self) -> None:
        """Make every chunk written so far durable, then visible under its name."""
        with self._flush_lock:
            with self._lock:
                batch = dict(self._written)
            files = [tmp for tmp, _, _ in batch.values()]
            fsutil.sync_files(self._chunks_dir, files, sum(n for _, _, n in batch.values()))
            fsutil.drop_cached(files)
            for h, (tmp, final, _) in batch.items():
                fsutil.publish(tmp, final)
                with self._lock:
                    del self._written[h]

    def discard(self) -> None:
        """Remove the chunks not flushed (the backup failed); they were never visible."""
        with self._flush_lock, self._lock:
            for tmp, _, _ in self._written.values():
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
            self._written.clear()
