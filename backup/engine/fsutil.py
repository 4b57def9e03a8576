"""Small durable-file helpers shared by the store, manifests and leases.

Every visible file in a store is created by: write a temporary name in the
same directory, fsync it, rename over the final name, fsync the directory.
A SIGKILL or power loss therefore leaves either the old state or the new one,
plus at most a stray temporary file that readers ignore and GC removes.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from .errors import EngineError, StoreFull, StoreUnavailable

TMP_PREFIX = ".tmp-"  # readers skip dot files; GC removes old ones
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def tmp_name(directory: Path, hint: str = "") -> Path:
    return directory / f"{TMP_PREFIX}{hint}{secrets.token_hex(6)}"


def write_all(fd: int, parts: Sequence[bytes | memoryview]) -> None:
    """Write every part (handles short writes). Tests monkeypatch this to inject ENOSPC."""
    views = [memoryview(p) for p in parts if len(p)]
    while views:
        n = os.writev(fd, views)
        while n and views:
            if n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][n:]
                n = 0


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_full(exc: OSError) -> bool:
    return exc.errno in _FULL_ERRNOS


def store_error(exc: OSError) -> EngineError:
    """The engine's error for a failed write: StoreFull when out of space, StoreUnavailable otherwise (its
    text is the reason only: an OSError's own text names the server path)."""
    if is_full(exc):
        return StoreFull()
    return StoreUnavailable(f"vault storage cannot be written ({exc.strerror or type(exc).__name__})")


def write_file_durable(
    final: Path, parts: Sequence[bytes | memoryview], *, sync_dir: bool = True, atime_ns: int | None = None
) -> None:
    """Atomically create/replace `final` with `parts`.

    On ENOSPC/EDQUOT the temporary file is removed and StoreFull is raised, so
    nothing half-written is ever left behind under a visible name; any other
    OSError becomes StoreUnavailable, also without a temporary file left.
    `atime_ns` stamps the file's access time before it becomes visible (the
    mark by which a backup recognises a chunk nobody touched since it wrote it).
    """
    tmp = tmp_name(final.parent, final.name[:16] + "-")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise store_error(exc) from exc
    try:
        try:
            write_all(fd, parts)
            os.fsync(fd)  # data durable before the name becomes visible
            if atime_ns is not None:
                os.utime(fd, ns=(atime_ns, os.fstat(fd).st_mtime_ns))
        finally:
            os.close(fd)
        os.rename(tmp, final)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        except OSError:
            pass  # a read-only or failing store: nothing more can be done here
        if isinstance(exc, OSError):
            raise store_error(exc) from exc
        raise
    if sync_dir:
        fsync_dir(final.parent)
