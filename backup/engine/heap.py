"""Keep the engine's 4 MiB chunk buffers in the malloc heap instead of fresh mmaps.

glibc serves every allocation above its mmap threshold (128 KiB to 32 MiB, adjusted as blocks are freed) with
its own mmap and gives it back on free, and trims the heap top above 128 KiB; each chunk read, compressed
output and decompressed chunk then faults in 1,024 new pages. Measured in a 2-core VM: a full backup of 1 GiB
took ~550,000 page faults and 4.5 s of CPU, 1.8 s with the buffers reused from the heap. The freed memory stays
in the process for the next chunk, so the footprint is the peak of the chunks in flight, as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum (HEAP_MAX_SIZE / 2 on 64-bit)
_TRIM_THRESHOLD = 256 * 1024 * 1024
_done = False
_lock = threading.Lock()


def keep_chunk_buffers_in_heap() -> None:
    """Once per process; a no-op where the C library has no mallopt (not glibc)."""
    global _done
    with _lock:
        if _done:
            return
        _done = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
