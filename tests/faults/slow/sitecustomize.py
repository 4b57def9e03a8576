"""Slows a worker down so a test can kill it in the middle of a restore, a garbage collection or a backup.

Loaded only by the tests' workers (tests/worker.py puts this folder on their PYTHONPATH), and only acts when
they set BACKUP_TEST_THROTTLE_S (a backup sleeps after each transferred chunk but the last, so a backup of a
few MB lasts long enough to watch, cancel or kill it mid-transfer),
FAULT_SLOW_CHUNK_READ_S (each chunk read of a restore sleeps first), FAULT_SLOW_GC_UNLINK_S (GC sleeps
between hiding a chunk and unlinking it), FAULT_SLOW_AFTER_COMMIT_S (a backup sleeps once the store has
committed its manifest, before the portal records the point) or FAULT_SLOW_SNAPSHOT_DELETE_S (deleting a
snapshot sleeps first).

It also lets a test know when the session's worker is idle: with TEST_WORKER_BUSY_DIR set, the worker keeps a
file there for each task it runs or queues, until that task ends (see tests/worker.py, worker_is_done).
"""

import os
import time
import types

_read_s = float(os.environ.get("FAULT_SLOW_CHUNK_READ_S") or 0)
_unlink_s = float(os.environ.get("FAULT_SLOW_GC_UNLINK_S") or 0)
_commit_s = float(os.environ.get("FAULT_SLOW_AFTER_COMMIT_S") or 0)
_delete_s = float(os.environ.get("FAULT_SLOW_SNAPSHOT_DELETE_S") or 0)
_throttle_s = float(os.environ.get("BACKUP_TEST_THROTTLE_S") or 0)

if _throttle_s:
    from backup import engine as _engine

    _backup_snapshot = _engine.backup_snapshot

    def _throttled_backup_snapshot(*args, progress=None, **kwargs):
        def report(done, total):
            if progress:
                progress(done, total)
            if done < total:
                time.sleep(_throttle_s)

        return _backup_snapshot(*args, progress=report, **kwargs)

    _engine.backup_snapshot = _throttled_backup_snapshot

if _commit_s:
    from backup.engine import store as _store

    _commit = _store.Store.commit_manifest

    def _slow_commit(self, *args, **kwargs):
        _commit(self, *args, **kwargs)
        time.sleep(_commit_s)

    _store.Store.commit_manifest = _slow_commit

if _delete_s:
    from backup.fabric import snapshots as _snapshots

    _delete = _snapshots.Snapshot.delete

    def _slow_delete(self, *args, **kwargs):
        time.sleep(_delete_s)
        return _delete(self, *args, **kwargs)

    _snapshots.Snapshot.delete = _slow_delete

if _read_s:
    from backup.engine import store as _store

    _read_chunk = _store.Store.read_chunk

    def _slow_read_chunk(self, *args, **kwargs):
        time.sleep(_read_s)
        return _read_chunk(self, *args, **kwargs)

    _store.Store.read_chunk = _slow_read_chunk

if _unlink_s:
    from backup.engine import gc as _gc

    def _slow_unlink(path, *args, **kwargs):
        if ".gc-" in os.fspath(path):
            time.sleep(_unlink_s)
        return os.unlink(path, *args, **kwargs)

    _gc.os = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    _gc.os.unlink = _slow_unlink

if os.environ.get("TEST_WORKER_BUSY_DIR"):
    from pathlib import Path as _Path

    from celery import signals as _signals

    _busy = _Path(os.environ["TEST_WORKER_BUSY_DIR"])

    # A task this worker queues is marked before the task queueing it ends, so the folder is never empty
    # between a task and the one it hands on to.
    @_signals.after_task_publish.connect(weak=False)
    def _queued(headers=None, **_):
        if headers and headers.get("id") and not headers.get("eta"):
            (_busy / headers["id"]).touch()

    @_signals.task_prerun.connect(weak=False)
    def _started(task_id=None, **_):
        (_busy / task_id).touch()

    @_signals.task_postrun.connect(weak=False)
    def _ended(task_id=None, **_):
        (_busy / task_id).unlink(missing_ok=True)
