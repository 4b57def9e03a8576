"""Small durable-file helpers shared by the store, manifests and leases.

Every visible file in a store is created by: write a temporary name in the
same directory, fsync it, rename over the final name, fsync the directory.
A SIGKILL or power loss therefore leaves either the old state or the new one,
plus at most a stray temporary file that readers ignore and GC removes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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


def write_tmp(final: Path, parts: Sequence[bytes | memoryview], *, sync: bool, atime_ns: int | None = None) -> Path:
    """Write `parts` to a new temporary file beside `final` (fsynced when `sync`); return its path.

    On ENOSPC/EDQUOT the temporary file is removed and StoreFull is raised; any other OSError becomes
    StoreUnavailable, also without a temporary file left. `atime_ns` stamps the file's access time (the mark
    by which a backup recognises a chunk nobody touched since it wrote it).
    """
    tmp = tmp_name(final.parent, final.name[:16] + "-")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise store_error(exc) from exc
    try:
        try:
            write_all(fd, parts)
            if sync:
                os.fsync(fd)  # data durable before the name becomes visible
            if atime_ns is not None:
                os.utime(fd, ns=(atime_ns, os.fstat(fd).st_mtime_ns))
        finally:
            os.close(fd)
    except BaseException as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise store_error(exc) from exc
        raise
    return tmp


def publish(tmp: Path, final: Path) -> None:
    """Give a written temporary file its name (its data must be durable already)."""
    try:
        os.rename(tmp, final)
    except BaseException as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise store_error(exc) from exc
        raise


def write_file_durable(
    final: Path, parts: Sequence[bytes | memoryview], *, sync_dir: bool = True, atime_ns: int | None = None
) -> None:
    """Atomically create/replace `final` with `parts` (errors as write_tmp)."""
    publish(write_tmp(final, parts, sync=True, atime_ns=atime_ns), final)
    if sync_dir:
        fsync_dir(final.parent)


# syncfs writes back every dirty page of the file system, other processes' too: worth it for a big batch
# only (an incremental's few chunks are fsynced one by one).
SYNCFS_MIN_BYTES = 64 * 1024 * 1024


def sync_files(directory: Path, files: Sequence[Path], nbytes: int) -> None:
    """Make the data of `files` (`nbytes` in all, on `directory`'s file system) durable.

    For a big batch one syncfs: a single writeback pass and journal commit for all of them, where an fsync
    per file costs a commit each. Otherwise (or without syncfs: not Linux), an fsync of each.
    """
    if not files:
        return
    syncfs = _syncfs() if nbytes >= SYNCFS_MIN_BYTES else None
    if syncfs is not None:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise store_error(OSError(err, os.strerror(err)))
        finally:
            os.close(fd)
        return
    for path in files:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise store_error(exc) from exc


def drop_cached(files: Sequence[Path]) -> None:
    """Let the kernel reuse the page cache of files just made durable (best effort).

    A backup reads each chunk once: its written pages would only push other data out of the cache, and in a
    VM every fresh page the cache takes can cost the hypervisor a fault; pages handed back are taken again
    by the next chunks' writes.
    """
    for path in files:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


# sync_file_range(2) flags: wait for writeback already running, start it, wait for it to finish.
_RANGE_WRITE_AND_WAIT = 1 | 2 | 4
_SYNC_FILE_RANGE: list = []
_NO_RANGE_SYNC = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ESPIPE}  # a file it does not apply to


def write_back(fd: int, offset: int, length: int) -> None:
    """Write a just-written range to the device now, then hand its page cache back.

    A restore writes each range once: left dirty, GiBs pile up for the final fsync and every page is a fresh
    one (in a VM each can cost the hypervisor a fault); written back and dropped range by range, the same few
    pages are reused and the final fsync has little left to do. Write errors surface here (OSError). Where
    sync_file_range does not exist or apply (not Linux, not a regular file), only the writeback is started.
    """
    fn = _sync_file_range()
    if fn is not None and fn(fd, offset, length, _RANGE_WRITE_AND_WAIT) != 0:
        err = ctypes.get_errno()
        if err not in _NO_RANGE_SYNC:
            # A writeback error is reported once per open file: the final fsync may not see it again.
            raise OSError(err, os.strerror(err))
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)  # without the sync: starts writeback
        except OSError:
            pass  # a hint only


def _sync_file_range():
    if not _SYNC_FILE_RANGE:
        try:
            fn = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).sync_file_range
            fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        except (OSError, AttributeError):
            fn = None
        _SYNC_FILE_RANGE.append(fn)
    return _SYNC_FILE_RANGE[0]


_SYNCFS: list = []


def _syncfs():
    if not _SYNCFS:
        try:
            fn = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).syncfs
            fn.argtypes = [ctypes.c_int]
        except (OSError, AttributeError):
            fn = None
        _SYNCFS.append(fn)
    return _SYNCFS[0]


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass  # already gone, or a read-only or failing store: nothing more can be done here
