"""Reading an NBD export (a pull backup's disk, or qemu-nbd over a shut-off domain's image) with libnbd.

One handle per thread: the engine reads chunks from a thread pool, libnbd releases the GIL while it waits,
and the exports accept several connections, so N threads keep N requests in flight.
"""

from __future__ import annotations

import threading
from typing import Any

from .bindings import load
from .errors import KvmError

ALLOCATION = "base:allocation"
_STATE_ZERO = 2  # base:allocation flag: reads as zeros (a hole, or zeroed clusters)
_DIRTY = 1  # qemu:dirty-bitmap flag
_STATUS_STEP = 1 << 30


class Export:
    def __init__(self, socket: str, name: str, *, bitmap_context: str | None = None) -> None:
        self.socket = socket
        self.name = name
        self.bitmap_context = bitmap_context
        self._local = threading.local()
        self._handles: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self.size = int(self.handle().get_size())

    def handle(self) -> Any:
        h = getattr(self._local, "handle", None)
        if h is not None:
            return h
        if self._closed:
            raise KvmError(f"the export of disk {self.name} is closed (the backup job ended)")
        nbd = load("nbd")
        h = nbd.NBD()
        if hasattr(h, "set_pread_initialize"):
            h.set_pread_initialize(False)  # no memset of every buffer before the server fills it
        h.add_meta_context(ALLOCATION)
        if self.bitmap_context:
            h.add_meta_context(self.bitmap_context)
        h.set_export_name(self.name)
        try:
            h.connect_unix(self.socket)
        except nbd.Error as exc:
            raise KvmError(f"cannot read disk {self.name} over NBD ({self.socket}): {exc}") from None
        with self._lock:
            self._handles.append(h)
        self._local.handle = h
        return h

    def read(self, offset: int, length: int) -> bytes:
        nbd = load("nbd")
        try:
            return bytes(self.handle().pread(length, offset))
        except nbd.Error as exc:
            raise KvmError(f"reading disk {self.name} at {offset} failed: {exc}") from None

    def data_ranges(self) -> list[tuple[int, int]]:
        """Extents that hold data (holes and zeroed extents left out), merged."""
        return _merge((off, n) for off, n, flags in self._extents(ALLOCATION) if not flags & _STATE_ZERO)

    def dirty_ranges(self) -> list[tuple[int, int]]:
        if not self.bitmap_context:
            raise KvmError(f"disk {self.name} was exported without a dirty bitmap")
        return _merge((off, n) for off, n, flags in self._extents(self.bitmap_context) if flags & _DIRTY)

    def _extents(self, context: str) -> list[tuple[int, int, int]]:
        nbd = load("nbd")
        h = self.handle()
        if not h.can_meta_context(context):
            raise KvmError(f"the export of disk {self.name} does not offer {context}")
        out: list[tuple[int, int, int]] = []
        pos = 0

        def collect(metacontext: str, offset: int, entries: list[int], _err: Any) -> int:
            if metacontext == context:
                at = offset
                for i in range(0, len(entries) - 1, 2):
                    out.append((at, entries[i], entries[i + 1]))
                    at += entries[i]
            return 0

        try:
            while pos < self.size:
                before = len(out)
                h.block_status(min(self.size - pos, _STATUS_STEP), pos, collect)
                if len(out) == before:
                    raise KvmError(f"the NBD server returned no extents for disk {self.name} at {pos}")
                pos = out[-1][0] + out[-1][1]
        except nbd.Error as exc:
            raise KvmError(f"reading the extents of disk {self.name} failed: {exc}") from None
        return [(off, min(n, self.size - off), flags) for off, n, flags in out if off < self.size]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            handles, self._handles = self._handles, []
        for h in handles:
            try:
                h.shutdown()
            except Exception:
                pass
            try:
                h.close()
            except Exception:
                pass


def _merge(ranges: Any) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for off, n in ranges:
        if n <= 0:
            continue
        if out and off <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], off + n - out[-1][0])
        else:
            out.append([off, n])
    return [(a, b) for a, b in out]
