"""Leases: how a running backup tells a concurrent GC "I may reference fresh chunks".

A lease is a file leases/<random>.lease holding {pid, host, start, purpose}.
`start` is taken *before* the file is created and before the backup touches
or writes any chunk, so every chunk the backup relies on has mtime >= start.
The holder heartbeats by touching the file; a lease whose mtime is older than
`timeout`, or whose pid is dead on this host, is stale and ignored by GC.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import fsutil

LEASE_SUFFIX = ".lease"
DEFAULT_TIMEOUT_S = 600.0  # a lease not heartbeaten for 10 minutes is stale
HEARTBEAT_S = 30.0


@dataclass(frozen=True)
class LeaseInfo:
    path: Path
    pid: int
    host: str
    start: float  # unix time
    purpose: str
    heartbeat: float  # mtime of the file


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """Context manager holding a lease (with a heartbeat thread) while a backup runs."""

    def __init__(self, leases_dir: Path, purpose: str, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.leases_dir = leases_dir
        self.purpose = purpose
        self.heartbeat_s = heartbeat_s
        self.path = leases_dir / f"{secrets.token_hex(8)}{LEASE_SUFFIX}"
        self.start = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        self.start = time.time()
        doc = {"pid": os.getpid(), "host": socket.gethostname(), "start": self.start, "purpose": self.purpose}
        fsutil.write_file_durable(self.path, [json.dumps(doc).encode()])
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except OSError:
                pass  # the next beat retries; GC only ignores us after `timeout`

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def read_leases(leases_dir: Path) -> list[LeaseInfo]:
    out = []
    for entry in os.scandir(leases_dir):
        if not entry.name.endswith(LEASE_SUFFIX) or entry.name.startswith("."):
            continue
        try:
            st = entry.stat()
            doc = json.loads(Path(entry.path).read_bytes())
            out.append(
                LeaseInfo(
                    Path(entry.path),
                    int(doc["pid"]),
                    str(doc["host"]),
                    float(doc["start"]),
                    str(doc.get("purpose", "")),
                    st.st_mtime,
                )
            )
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            continue  # released meanwhile, or garbage: not a live lease
    return out


def is_live(lease: LeaseInfo, now: float, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    if now - lease.heartbeat > timeout_s:
        return False
    # A lease of a process that died (e.g. SIGKILL) on this host is stale at once.
    return not (lease.host == socket.gethostname() and not _pid_alive(lease.pid))


def live_leases(leases_dir: Path, now: float, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[LeaseInfo]:
    return [lease for lease in read_leases(leases_dir) if is_live(lease, now, timeout_s)]


def remove_stale(leases_dir: Path, now: float, timeout_s: float = DEFAULT_TIMEOUT_S) -> int:
    removed = 0
    for lease in read_leases(leases_dir):
        if not is_live(lease, now, timeout_s):
            try:
                os.unlink(lease.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed
