"""Mark-and-sweep garbage collection, safe beside backups in other processes.

Protocol (the other half lives in backup.py / store.touch_chunk):
1. t0 = now; read the live leases; cutoff = min(t0, oldest live lease start) - grace.
2. Read every manifest (after the leases: a backup that commits after this
   point either held a lease we saw, or started after t0; in both cases
   every chunk it uses has mtime >= cutoff + grace).
3. Sweep chunks not referenced by any manifest and whose mtime < cutoff.
   To close the race with a backup touching a chunk between our stat and our
   unlink, the chunk is first renamed to .gc-<hash>, then re-stat'ed: if it
   was touched meanwhile it is renamed back; a backup touching it after the
   rename gets ENOENT and rewrites / re-reads it.
Old temporary files (crashed writers) and stale leases are removed too.
Quarantined chunks (`<hash>.N.bad`, see store.py) are never removed.
"""

from __future__ import annotations

import fcntl
import os
import time as _time
from datetime import datetime, timedelta

from . import fsutil
from .backends import VaultStore
from .chunkformat import BAD_SUFFIX
from .errors import EngineError
from .gcreport import DEFAULT_GRACE, GcReport
from .leases import DEFAULT_TIMEOUT_S, live_leases, remove_stale
from .s3gc import collect_s3_garbage
from .s3store import S3Store
from .store import _FANOUT, GC_PREFIX, Store


def _restore_interrupted(store: Store) -> None:
    """Put back chunks a crashed GC left under their .gc- name."""
    for name in _FANOUT:
        d = store.chunks_dir / name
        for entry in os.scandir(d):
            if entry.name.startswith(GC_PREFIX):
                final = d / entry.name[len(GC_PREFIX) :]
                if not final.exists():
                    os.rename(entry.path, final)
                else:
                    os.unlink(entry.path)


def collect_garbage(
    store: VaultStore,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    lease_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> GcReport:
    """Free the chunks no manifest names. An object store's GC is postponed (report.postponed) while a
    backup runs; a folder store's runs beside backups."""
    if isinstance(store, S3Store):
        return collect_s3_garbage(store, grace, now, lease_timeout_s)
    lock_fd = os.open(store.root / "gc.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EngineError("another garbage collection is running on this store") from None
        return _collect(store, grace, now, lease_timeout_s)
    finally:
        os.close(lock_fd)


def _collect(store: Store, grace: timedelta, now: datetime | None, lease_timeout_s: float) -> GcReport:
    t0 = now.timestamp() if now is not None else _time.time()
    real_now = _time.time()
    _restore_interrupted(store)
    remove_stale(store.leases_dir, real_now, lease_timeout_s)
    leases = live_leases(store.leases_dir, real_now, lease_timeout_s)
    oldest = min([t0] + [lease.start for lease in leases])
    cutoff = oldest - grace.total_seconds()

    marked: set[str] = set()
    for m in store.list_manifests():  # after the leases, see the module docstring
        marked |= m.chunk_hashes()

    removed = freed = kept = tmp_removed = 0
    for name in _FANOUT:
        d = store.chunks_dir / name
        for entry in os.scandir(d):
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if entry.name.startswith(fsutil.TMP_PREFIX):
                if st.st_mtime < cutoff:  # left by a killed writer
                    _unlink(entry.path)
                    tmp_removed += 1
                continue
            if entry.name.startswith(".") or entry.name.endswith(BAD_SUFFIX):
                continue  # quarantined chunks are evidence for an operator, never swept
            if entry.name in marked or st.st_mtime >= cutoff:
                kept += 1
                continue
            hidden = d / (GC_PREFIX + entry.name)
            try:
                os.rename(entry.path, hidden)
            except FileNotFoundError:
                continue
            st2 = os.stat(hidden)
            if st2.st_mtime >= cutoff:  # touched by a backup between stat and rename
                os.rename(hidden, entry.path)
                kept += 1
                continue
            os.unlink(hidden)
            removed += 1
            freed += st2.st_size
    for folder in (store.manifests_dir, store.leases_dir, store.root):
        for entry in os.scandir(folder):
            if entry.name.startswith(fsutil.TMP_PREFIX) and entry.stat().st_mtime < cutoff:
                _unlink(entry.path)
                tmp_removed += 1
    return GcReport(removed, freed, kept, tmp_removed)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
