"""Backing up one snapshot into the store (spec steps 2-4).

Planning decides per 4 MiB chunk: hole, copy the base's reference, or read.
Reads go through a bounded thread pool (read -> zero check -> BLAKE3 ->
zstd -> write) of IO_THREADS_PER_WORKER * workers threads; blake3,
zstd and file IO release the GIL, and at most threads + 2 chunks are in
flight, so memory does not grow with disk size. The chunk files are made
durable in batches (pending.py) by a thread of their own, each before it
gets its name. The manifest is committed only after every chunk it names
is durable.

A backup that fails or is cancelled removes again the chunks it wrote that
nobody touched since (discard_fresh_chunks), so one oversized backup does not
keep a small vault full until the next garbage collection: see FRESH_ATIME_NS.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from .backends import VaultStore
from .chunkformat import hash_data
from .errors import Cancelled, EngineError, StoreFull
from .heap import keep_chunk_buffers_in_heap
from .manifest import DiskManifest, Manifest, check_id
from .pending import ChunkReservations
from .protocols import CancelCheck, ProgressSink, Snapshot, SnapshotDisk

# Most of a chunk's time is spent blocked in pread/write/fsync (the device,
# not the CPU, is the limit: measured ~1.4x faster with 12-16 threads than 4 on
# a 2-core VM), and blake3/zstd release the GIL; so each unit of `workers`
# gets several threads. In-flight chunks = threads + 2 bounds memory
# (~8 MiB each: data + compressed copy).
IO_THREADS_PER_WORKER = 4
# Chunk files are made durable in batches of about this many bytes (pending.py), flushed by a thread of their
# own while the reads go on; a crash loses at most about two batches of written chunks to a retry.
FLUSH_BYTES = 512 * 1024 * 1024

_ZEROS: dict[int, bytes] = {}


def _zeros(n: int) -> bytes:
    z = _ZEROS.get(n)
    if z is None:
        z = _ZEROS[n] = bytes(n)
    return z


def _chunks_overlapping(ranges: list[tuple[int, int]], size: int, cs: int, n: int) -> bytearray:
    """Flag (1 byte per chunk) every chunk index overlapping one of the ranges."""
    flags = bytearray(n)
    for off, length in ranges:
        if length <= 0:
            continue
        end = min(off + length, size)
        if end <= off:
            continue
        first, last = off // cs, (end - 1) // cs
        flags[first : last + 1] = b"\x01" * (last - first + 1)
    return flags


@dataclass
class _DiskPlan:
    disk: SnapshotDisk
    refs: list[str | None]
    to_read: list[int]
    logical_bytes: int
    fresh: set[str] = field(default_factory=set)  # hashes produced by reads (written or deduplicated)
    written: set[str] = field(default_factory=set)  # hashes whose file this run created
    bytes_read: int = 0
    bytes_transferred: int = 0
    stored_bytes_new: int = 0


def _plan(store: VaultStore, disk: SnapshotDisk, base: Manifest | None) -> _DiskPlan:
    cs = store.chunk_size
    n = -(-disk.size // cs)
    data_ranges = disk.data_ranges()
    allocated = _chunks_overlapping(data_ranges, disk.size, cs, n)
    logical = sum(length for _, length in data_ranges)
    refs: list[str | None] = [None] * n
    base_disk = base.disk(disk.key) if base is not None else None
    changed = None
    if (
        base_disk is not None
        and base_disk.size == disk.size
        and base_disk.chunk_size == cs
        and len(base_disk.chunks) == n
        and base_disk.change_id
    ):
        ranges = disk.changed_ranges_since(base_disk.change_id)
        if ranges is not None:
            changed = _chunks_overlapping(ranges, disk.size, cs, n)
    to_read: list[int] = []
    touched: set[str] = set()
    for i in range(n):
        if not allocated[i]:
            continue  # a hole now: never read, recorded as None
        if changed is None or changed[i]:
            to_read.append(i)
            continue
        # Unchanged since the base: reuse its reference (None = it was all zeros).
        h = base_disk.chunks[i]  # type: ignore[union-attr]
        if h is not None and h not in touched:
            # Touch for GC (a concurrent prune may have dropped the base's
            # manifest); if the chunk is gone, fall back to reading it.
            if not store.touch_chunk(h):
                to_read.append(i)
                continue
            touched.add(h)
        refs[i] = h
    return _DiskPlan(disk, refs, to_read, logical)


def _process_chunk(
    store: VaultStore, pending: ChunkReservations, disk: SnapshotDisk, offset: int, length: int
) -> tuple[str | None, int, int, int, bool]:
    """Worker: read one chunk and make it durable. Returns (hash, read, payload, file bytes, written)."""
    data = disk.read(offset, length)
    if len(data) != length:
        raise EngineError(f"disk {disk.key}: short read at {offset} ({len(data)} of {length} bytes)")
    if data == _zeros(length):
        return None, length, 0, 0, False  # allocated but zero: store as a hole, restore stays sparse
    h = hash_data(data)
    put = store.put_chunk(h, data, pending)
    return h, length, put.payload_bytes, put.file_bytes, put.written


def discard_fresh_chunks(store: VaultStore, hashes: set[str]) -> int:
    """Remove chunks a failed backup wrote that nobody deduplicated onto since (see the stores' method)."""
    return store.discard_fresh_chunks(hashes)


def backup_snapshot(
    store: VaultStore,
    *,
    item: str,
    point_id: str,
    snapshot: Snapshot,
    time: datetime,
    base: Manifest | None,
    progress: ProgressSink | None = None,
    cancel: CancelCheck | None = None,
    workers: int = 2,
) -> Manifest:
    """Back up `snapshot` as recovery point `point_id` of `item`; return its manifest.

    Idempotent: if `point_id` is already committed (task retried after a
    crash), the existing manifest is returned without reading anything.
    """
    check_id(item, "item")
    check_id(point_id, "point_id")
    if store.has_manifest(point_id):
        existing = store.load_manifest(point_id)
        if existing.item != item:
            raise EngineError(f"recovery point {point_id} already exists for another item")
        return existing
    keys = [d.key for d in snapshot.disks]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate disk keys in snapshot: {keys}")
    threads = max(1, int(workers)) * IO_THREADS_PER_WORKER
    keep_chunk_buffers_in_heap()

    with store.lease(f"backup {item}/{point_id} on {socket.gethostname()}"):
        plans = [_plan(store, d, base) for d in snapshot.disks]
        cs = store.chunk_size
        total = sum(min(cs, p.disk.size - i * cs) for p in plans for i in p.to_read)
        pending = store.new_pending()
        try:
            _run(store, pending, plans, total, progress, cancel, threads)
            if cancel is not None and cancel():
                raise Cancelled("backup cancelled")
            return _commit(store, plans, point_id=point_id, item=item, time=time, consistency=snapshot.consistency)
        except BaseException as exc:
            # Still under the lease, so GC leaves these chunks alone meanwhile. A manifest that became visible
            # before a late error (its directory fsync) names them: then they stay.
            pending.discard()
            if not store.has_manifest(point_id):
                discard_fresh_chunks(store, {h for p in plans for h in p.written})
            if isinstance(exc, StoreFull):
                written = sum(p.stored_bytes_new for p in plans)
                left = total - sum(p.bytes_read for p in plans)
                raise StoreFull(str(exc), needed_bytes=written + left, free_bytes=free_bytes(store)) from exc
            raise


def _commit(
    store: VaultStore, plans: list[_DiskPlan], *, point_id: str, item: str, time: datetime, consistency: str
) -> Manifest:
    # Directory entries of the chunks renamed into place must be durable
    # before the manifest naming them is.
    # References copied from the base were made durable by the base's own
    # commit; only chunks this run wrote or deduplicated against (which a
    # crashed writer may have renamed without a directory fsync) count.
    store.sync_chunk_dirs({h[:2] for p in plans for h in p.fresh})
    manifest = Manifest(
        point_id=point_id,
        item=item,
        time=time,
        consistency=consistency,
        disks=tuple(
            DiskManifest(
                key=p.disk.key,
                size=p.disk.size,
                change_id=p.disk.change_id,
                chunk_size=store.chunk_size,
                chunks=p.refs,
                logical_bytes=p.logical_bytes,
                bytes_read=p.bytes_read,
                bytes_transferred=p.bytes_transferred,
                stored_bytes_new=p.stored_bytes_new,
            )
            for p in plans
        ),
    )
    store.commit_manifest(manifest)
    return manifest


def free_bytes(store: VaultStore) -> int | None:
    """Space an unprivileged writer may still use on the store's file system (None: an object store)."""
    return store.free_bytes()


def _jobs(plans: list[_DiskPlan], cs: int) -> Iterator[tuple[_DiskPlan, int, int, int]]:
    for p in plans:
        for i in p.to_read:
            yield p, i, i * cs, min(cs, p.disk.size - i * cs)


def _run(
    store: VaultStore,
    pending: ChunkReservations,
    plans: list[_DiskPlan],
    total: int,
    progress: ProgressSink | None,
    cancel: CancelCheck | None,
    threads: int,
) -> None:
    max_inflight = threads + 2  # bounds memory independently of the disk size
    done = 0
    inflight: dict[Future, tuple[_DiskPlan, int]] = {}

    def account(plan: _DiskPlan, index: int, result: tuple[str | None, int, int, int, bool]) -> int:
        h, nread, payload, fbytes, written = result
        plan.refs[index] = h
        if h is not None:
            plan.fresh.add(h)
            if written:
                plan.written.add(h)
        plan.bytes_read += nread
        plan.bytes_transferred += payload
        plan.stored_bytes_new += fbytes
        return nread

    def collect(block: bool) -> None:
        nonlocal done
        finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED, timeout=None if block else 0)
        for fut in finished:
            plan, index = inflight.pop(fut)
            done += account(plan, index, fut.result())  # re-raises StoreFull etc.
            if progress is not None:
                progress(done, total)

    if progress is not None:
        progress(0, total)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="backup")
    flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-flush")
    flushing: Future | None = None

    def flush_in_background() -> None:
        nonlocal flushing
        if flushing is not None and not flushing.done():
            return
        if flushing is not None:
            flushing.result()  # re-raises its error
        if pending.unflushed_bytes >= FLUSH_BYTES:
            flushing = flusher.submit(pending.flush)

    try:
        for plan, index, offset, length in _jobs(plans, store.chunk_size):
            if cancel is not None and cancel():
                raise Cancelled("backup cancelled")
            while len(inflight) >= max_inflight:
                collect(block=True)
                flush_in_background()
            fut = pool.submit(_process_chunk, store, pending, plan.disk, offset, length)
            inflight[fut] = (plan, index)
        while inflight:
            collect(block=True)
            flush_in_background()
            if cancel is not None and inflight and cancel():
                raise Cancelled("backup cancelled")
        if flushing is not None:
            flushing.result()
        pending.flush()
    finally:
        flusher.shutdown(wait=True, cancel_futures=True)
        # On error/cancel: drop queued work, wait for running chunk writes, and
        # account for the ones that completed, so the caller can discard them.
        pool.shutdown(wait=True, cancel_futures=True)
        for fut, (plan, index) in inflight.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                account(plan, index, fut.result())
