"""Backup leases and the GC lock of an object-storage store: mutual exclusion through objects.

S3 has no rename, no flock and no cheap touch, so GC cannot sweep beside a running backup the way the file
store does (mtimes + renames). Instead the two exclude each other, each writing its own object first and
then looking for the other's:

    PREFIX/leases/<random>.lease   a running backup {pid, host, start, purpose}, rewritten every HEARTBEAT_S
    PREFIX/gc.lock                 a running GC, created with a conditional PUT (If-None-Match: *)

- A backup PUTs its lease, then HEADs gc.lock. A live lock: it deletes its lease, waits and retries.
- GC creates gc.lock (412 -> another GC runs, unless that lock is stale: then it is deleted by ETag and taken
  over), then lists leases. Any live lease: GC deletes its lock and is postponed.
Both write before they read, and S3 is strongly consistent (read-after-write, list-after-write), so whichever
comes second sees the first: a backup and a sweep never overlap. An object not rewritten for `timeout`,
or whose pid is dead on this host, is stale and ignored. Its age is LastModified against the server's own
clock (the Date header of a request), so a skewed local clock cannot make a live lease look stale.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from .errors import EngineError
from .leases import DEFAULT_TIMEOUT_S, HEARTBEAT_S, LEASE_SUFFIX, _pid_alive
from .s3client import S3Location, call, is_not_found, is_precondition_failed, list_keys

LOCK_NAME = "gc.lock"
LEASES = "leases/"
GC_WAIT_POLL_S = 2.0


@dataclass(frozen=True)
class ObjectLease:
    key: str
    pid: int
    host: str
    start: float
    purpose: str
    heartbeat: float  # LastModified of the object
    etag: str


def _doc(purpose: str, start: float) -> bytes:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "start": start, "purpose": purpose}).encode()


def _parse(key: str, body: bytes, last_modified: Any, etag: str) -> ObjectLease | None:
    try:
        doc = json.loads(body)
        return ObjectLease(
            key, int(doc["pid"]), str(doc["host"]), float(doc["start"]), str(doc.get("purpose", "")),
            last_modified.timestamp(), etag,
        )  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None  # garbage: not a live lease


def is_live(lease: ObjectLease, now: float, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    if now - lease.heartbeat > timeout_s:
        return False
    return not (lease.host == socket.gethostname() and not _pid_alive(lease.pid))


class _Heartbeat:
    def __init__(self, beat: Callable[[], None], every_s: float) -> None:
        self._stop = threading.Event()
        self._beat, self._every = beat, every_s
        self._thread = threading.Thread(target=self._run, name="s3-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 - the next beat retries; others only ignore us after `timeout`
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class LeaseBook:
    """The lease and lock objects of one store."""

    def __init__(self, where: S3Location, client: Any, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.where, self.client, self.timeout_s = where, client, timeout_s

    def _put(self, key: str, body: bytes, **extra: Any) -> None:
        call(self.where, self.client.put_object, Bucket=self.where.bucket, Key=key, Body=body, **extra)

    def _delete(self, key: str, **extra: Any) -> None:
        call(self.where, self.client.delete_object, Bucket=self.where.bucket, Key=key, **extra)

    def _read(self, key: str) -> ObjectLease | None:
        try:
            obj = call(self.where, self.client.get_object, Bucket=self.where.bucket, Key=key)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        return _parse(key, obj["Body"].read(), obj["LastModified"], obj["ETag"])

    def leases(self) -> list[ObjectLease]:
        out = []
        for entry in list_keys(self.where, self.client, self.where.key(LEASES)):
            if entry["Key"].endswith(LEASE_SUFFIX):
                lease = self._read(entry["Key"])
                if lease is not None:
                    out.append(lease)
        return out

    def server_now(self) -> float:
        """The server's clock (what LastModified is measured by); the local one if it sends no Date."""
        head = call(self.where, self.client.head_bucket, Bucket=self.where.bucket)
        try:
            return parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return time.time()

    def live_leases(self, now: float | None = None) -> list[ObjectLease]:
        moment = self.server_now() if now is None else now
        return [lease for lease in self.leases() if is_live(lease, moment, self.timeout_s)]

    def remove_stale(self) -> int:
        removed = 0
        now = self.server_now()
        for lease in self.leases():
            if not is_live(lease, now, self.timeout_s):
                self._delete(lease.key)
                removed += 1
        return removed

    def gc_lock(self) -> ObjectLease | None:
        return self._read(self.where.key(LOCK_NAME))

    # --- the backup side ------------------------------------------------------
    def hold_lease(self, purpose: str, wait_s: float) -> _HeldLease:
        """Write a lease once no live GC lock exists; EngineError after waiting `wait_s` for a GC."""
        key = self.where.key(f"{LEASES}{secrets.token_hex(8)}{LEASE_SUFFIX}")
        start = time.time()
        deadline = start + wait_s
        while True:
            self._put(key, _doc(purpose, start))
            lock = self.gc_lock()
            if lock is None or not is_live(lock, self.server_now(), self.timeout_s):
                return _HeldLease(self, key, purpose, start)
            self._delete(key)
            if time.time() >= deadline:
                raise EngineError("the store's garbage collection is running; the backup could not start")
            time.sleep(GC_WAIT_POLL_S)

    # --- the GC side ------------------------------------------------------------
    def take_gc_lock(self) -> _HeldLock:
        key = self.where.key(LOCK_NAME)
        body = _doc("gc", time.time())
        for _ in range(2):
            try:
                self._put(key, body, IfNoneMatch="*")
                return _HeldLock(self, key, body)
            except Exception as exc:
                if not is_precondition_failed(exc):
                    raise
            lock = self.gc_lock()
            if lock is not None and is_live(lock, self.server_now(), self.timeout_s):
                break
            if lock is not None:  # stale: a crashed GC. Delete exactly that object, then try again.
                try:
                    self._delete(key, IfMatch=lock.etag)
                except Exception as exc:
                    if not (is_precondition_failed(exc) or is_not_found(exc)):
                        raise
        raise EngineError("another garbage collection is running on this store")


class _HeldLease:
    def __init__(self, book: LeaseBook, key: str, purpose: str, start: float) -> None:
        self.book, self.key, self.start = book, key, start
        body = _doc(purpose, start)
        self._beat = _Heartbeat(lambda: book._put(key, body), HEARTBEAT_S)

    def release(self) -> None:
        self._beat.stop()
        self.book._delete(self.key)


class _HeldLock:
    def __init__(self, book: LeaseBook, key: str, body: bytes) -> None:
        self.book, self.key = book, key
        self._beat = _Heartbeat(lambda: book._put(key, body), HEARTBEAT_S)

    def release(self) -> None:
        self._beat.stop()
        self.book._delete(self.key)
