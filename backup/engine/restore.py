"""Restoring a recovery point to new, sparse, byte-identical files.

Every chunk is re-hashed on the way out. Holes (None references) and zero
runs inside chunks are skipped, so the file keeps the source's holes. On any
failure the partial files are removed: a half-restored disk is worse than
none because it looks usable.

A bounded pool of IO_THREADS_PER_WORKER * workers threads each reads,
decompresses, verifies and writes one chunk (file IO, zstd and blake3
release the GIL), with at most threads + 2 chunks in flight, so memory does
not grow with the disk. Each chunk is written back to the device by its own
thread and its page cache dropped (fsutil.write_back): the restore streams
through a few MiB of cache and the single fsync per file at the end is
short.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from . import fsutil
from .backends import VaultStore
from .backup import IO_THREADS_PER_WORKER
from .errors import Cancelled, ChunkError, StoreFull
from .heap import keep_chunk_buffers_in_heap
from .manifest import DiskManifest
from .protocols import CancelCheck, ProgressSink

SPARSE_BLOCK = 64 * 1024  # zero runs of this granularity stay holes
_ZERO_BLOCK = bytes(SPARSE_BLOCK)


@dataclass(frozen=True)
class RestoreResult:
    point_id: str
    files: dict[str, Path] = field(default_factory=dict)  # disk key -> restored file
    bytes_written: int = 0  # data bytes written (holes excluded)
    bytes_total: int = 0  # uncompressed bytes of the referenced chunks


def _is_zero(data: bytes, start: int, end: int) -> bool:
    # startswith compares in place with memcmp (stops at the first non-zero byte); no slice is copied.
    n = end - start
    return data.startswith(_ZERO_BLOCK if n == SPARSE_BLOCK else _ZERO_BLOCK[:n], start, end)


def _pwrite_sparse(fd: int, data: bytes, offset: int) -> int:
    """Write `data` at `offset`, skipping all-zero SPARSE_BLOCK runs. Returns bytes written."""
    mv = memoryview(data)
    n = len(data)
    written = 0
    run_start = -1
    for pos in range(0, n, SPARSE_BLOCK):
        is_zero = _is_zero(data, pos, min(pos + SPARSE_BLOCK, n))
        if is_zero and run_start >= 0:
            written += _pwrite_all(fd, mv[run_start:pos], offset + run_start)
            run_start = -1
        elif not is_zero and run_start < 0:
            run_start = pos
    if run_start >= 0:
        written += _pwrite_all(fd, mv[run_start:n], offset + run_start)
    return written


def _pwrite_all(fd: int, view: memoryview, offset: int) -> int:
    total = len(view)
    while len(view):
        k = os.pwrite(fd, view, offset)
        view, offset = view[k:], offset + k
    return total


def _target_error(exc: OSError) -> Exception:
    return StoreFull("restore target storage is full") if fsutil.is_full(exc) else exc


def _restore_chunk(
    store: VaultStore, fd: int, disk: DiskManifest, index: int, chunk_hash: str, keep: bool
) -> tuple[int, int]:
    length = disk.chunk_length(index)
    data = store.read_chunk(chunk_hash, expected_length=length, keep=keep)
    offset = index * disk.chunk_size
    try:
        written = _pwrite_sparse(fd, data, offset)
        if written:
            fsutil.write_back(fd, offset, length)
    except OSError as exc:
        raise _target_error(exc) from exc
    return length, written


def restore_point(
    store: VaultStore,
    point_id: str,
    targets: dict[str, Path],
    progress: ProgressSink | None = None,
    cancel: CancelCheck | None = None,
    workers: int = 2,
) -> RestoreResult:
    """Restore the disks named in `targets` (disk key -> new file path)."""
    manifest = store.load_manifest(point_id)
    disks: list[tuple[DiskManifest, Path]] = []
    for key, target in targets.items():
        disk = manifest.disk(key)
        if disk is None:
            raise ValueError(f"recovery point {point_id} has no disk {key!r}")
        target = Path(target)
        if target.exists() or target.is_symlink():
            raise FileExistsError(f"restore target {target} already exists")
        disks.append((disk, target))

    total = sum(d.chunk_length(i) for d, _ in disks for i, h in enumerate(d.chunks) if h is not None)
    created: list[Path] = []
    fds: list[int] = []
    done = written = 0
    try:
        for disk, target in disks:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            created.append(target)
            fds.append(fd)
            os.ftruncate(fd, disk.size)  # holes everywhere until data lands
        if progress is not None:
            progress(0, total)
        threads = max(1, workers) * IO_THREADS_PER_WORKER
        # A restore reads each chunk once: one bigger than half a store's chunk cache would only push out
        # everything else in it for chunks that are gone again before they are read twice.
        keep = total <= store.chunk_cache_bytes // 2
        keep_chunk_buffers_in_heap()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="restore") as pool:
            inflight: dict[Future, DiskManifest] = {}

            def collect() -> None:
                nonlocal done, written
                finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in finished:
                    disk = inflight.pop(fut)
                    try:
                        nbytes, nwritten = fut.result()
                    except ChunkError as exc:
                        raise exc.located(point_id, disk.key) from None
                    done += nbytes
                    written += nwritten
                    if progress is not None:
                        progress(done, total)

            try:
                for (disk, _), fd in zip(disks, fds, strict=True):
                    for index, h in enumerate(disk.chunks):
                        if h is None:
                            continue
                        if cancel is not None and cancel():
                            raise Cancelled("restore cancelled")
                        while len(inflight) >= threads + 2:
                            collect()
                        inflight[pool.submit(_restore_chunk, store, fd, disk, index, h, keep)] = disk
                while inflight:
                    collect()
            finally:
                for fut in inflight:
                    fut.cancel()
        for fd in fds:
            try:
                os.fsync(fd)
            except OSError as exc:
                raise _target_error(exc) from exc
    except BaseException:
        for fd in fds:
            os.close(fd)
        fds = []
        for path in created:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        raise
    finally:
        for fd in fds:
            os.close(fd)
    return RestoreResult(point_id, {d.key: t for d, t in disks}, written, total)
