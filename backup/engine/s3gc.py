"""Garbage collection of an object-storage store (the lock/lease protocol is in s3leases.py).

1. Create gc.lock (conditional PUT); another live GC -> EngineError.
2. Delete stale leases; if a live lease remains, a backup runs: release the lock, report `postponed`.
   No backup can start from now on until the lock is released (it would see the lock and wait).
3. Write a new gc-generation (local known-chunk indexes are rebuilt), mark every manifest, and delete the
   chunk objects no manifest names whose LastModified < now - grace (the grace protects chunks a lease-less
   writer PUT recently). Quarantined `.bad` copies stay.
"""

from __future__ import annotations

import time as _time
from datetime import datetime, timedelta

from .gcreport import GcReport
from .s3store import S3Store


def collect_s3_garbage(store: S3Store, grace: timedelta, now: datetime | None, lease_timeout_s: float) -> GcReport:
    book = store.lease_book(lease_timeout_s)
    lock = book.take_gc_lock()
    try:
        book.remove_stale()
        if book.live_leases():
            return GcReport(0, 0, 0, 0, postponed=True)
        cutoff = (now.timestamp() if now is not None else _time.time()) - grace.total_seconds()
        store.new_generation()
        marked: set[str] = set()
        for m in store.list_manifests():
            marked |= m.chunk_hashes()
        doomed: list[str] = []
        freed = kept = 0
        for chunk_hash, size, modified in store.iter_chunks():
            if chunk_hash in marked or modified >= cutoff:
                kept += 1
                continue
            doomed.append(store.chunk_name(chunk_hash))
            freed += size
        store.objects.delete_many(doomed)
        return GcReport(len(doomed), freed, kept, 0)
    finally:
        lock.release()
