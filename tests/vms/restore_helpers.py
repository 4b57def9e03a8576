"""Helpers of the restore and manage tests: comparing sparse disk images, backing up items in-process."""

import os
import shutil
from pathlib import Path

import pytest

from backup.fabric.cow import data_spans
from backup.vms.models import RecoveryPoint
from backup.vms.services import backup as backups

from .helpers import run_jobs


def spans(path: Path) -> list[tuple[int, int]]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return data_spans(fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def same_content(a: Path, b: Path) -> bool:
    """Byte-for-byte equality of two (sparse) images without reading their holes: outside the union of both
    files' data spans, both read as zeros."""
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for start, end in sorted(spans(a) + spans(b)):
            fa.seek(start)
            fb.seek(start)
            if fa.read(end - start) != fb.read(end - start):
                return False
    return True


def back_up(item, user) -> RecoveryPoint:
    job = run_jobs(backups.back_up_now(item, user))[0]
    assert job.status == "completed", job.error_message
    return RecoveryPoint.objects.get(point_id=f"job-{job.pk}")


@pytest.fixture(autouse=True)
def clean_fabric(db):
    """Remove the image files this test's restores and machines made: ids restart after a rolled-back test,
    and a later test must not find an image at its new disk's path."""
    yield
    from backup.vms.models import StorageAccount

    for account in StorageAccount.objects.all():
        shutil.rmtree(account.folder, ignore_errors=True)
