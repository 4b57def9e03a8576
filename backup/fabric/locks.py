"""Cross-process locks on sidecar files (fcntl.flock).

Why flock on a *separate* lock file: the guest workload, backup readers and
snapshot creation run in different processes (web, Celery workers), so
in-process locks are not enough; a sidecar keeps the image file itself
untouched. flock locks belong to an open file description, so every
acquisition opens its own descriptor: two threads of one process then
exclude each other exactly like two processes do.

A disk uses two files: ``<image>.lock`` (shared = readers, exclusive =
writers / snapshot creation) and ``<image>.gate``, a turnstile. flock does not
queue waiters fairly, so a steady stream of overlapping shared readers (a
backup reading with several threads) could starve the guest writer forever.
Readers pass through the gate (shared, held only for an instant); a writer
holds the gate exclusively while it waits, which stops new readers from
entering until it has the main lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path


def _open_lockfile(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@contextmanager
def file_lock(path: Path, exclusive: bool = True) -> Iterator[None]:
    """Hold an flock on ``path`` (created if missing) for the with-block."""
    fd = _open_lockfile(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def lock_paths(image: Path) -> tuple[Path, Path]:
    """(main lock, gate) sidecars of a disk image."""
    return image.with_name(image.name + ".lock"), image.with_name(image.name + ".gate")


@contextmanager
def _disk_lock(image: Path, exclusive: bool) -> Iterator[None]:
    """The disk's main lock, entered through its gate so a stream of readers cannot starve a writer."""
    main, gate = lock_paths(image)
    fd = _open_lockfile(main)
    try:
        with file_lock(gate, exclusive=exclusive):
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def disk_exclusive(image: Path):
    return _disk_lock(image, exclusive=True)


@contextmanager
def disks_exclusive(images: Sequence[Path]) -> Iterator[None]:
    """Exclusive locks on several disks, always taken in path order so two
    snapshot creations of overlapping disk sets cannot deadlock."""
    with ExitStack() as stack:
        for image in sorted({Path(p) for p in images}, key=str):
            stack.enter_context(disk_exclusive(image))
        yield


def disk_shared(image: Path):
    return _disk_lock(image, exclusive=False)


class SharedReaderLock:
    """Per-call shared lock for a hot read path.

    Keeps one (gate, main) descriptor pair per thread so a read costs four
    flock calls and no open/close. Descriptors are per thread because flock
    ownership is per open file description.
    """

    def __init__(self, image: Path) -> None:
        self._main, self._gate = lock_paths(image)
        self._fds: dict[int, tuple[int, int]] = {}
        self._mutex = threading.Lock()

    def _thread_fds(self) -> tuple[int, int]:
        ident = threading.get_ident()
        fds = self._fds.get(ident)
        if fds is None:
            fds = (_open_lockfile(self._gate), _open_lockfile(self._main))
            with self._mutex:
                self._fds[ident] = fds
        return fds

    @contextmanager
    def held(self) -> Iterator[None]:
        gate_fd, main_fd = self._thread_fds()
        fcntl.flock(gate_fd, fcntl.LOCK_SH)
        try:
            fcntl.flock(main_fd, fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate_fd, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(main_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._mutex:
            fds, self._fds = list(self._fds.values()), {}
        for pair in fds:
            for fd in pair:
                os.close(fd)
