"""Backups that did not end well: a worker killed mid-backup leaves a libvirt backup job running, and the next
backup (or the reaper's end_leftover_backup) ends it; a shut-off domain is read offline with its bitmap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from backup.kvm.backup import backup_job_running

from .conftest import URI, MiB
from .points import assert_identical, take

pytestmark = pytest.mark.libvirt

CHILD = Path(__file__).with_name("killed_child.py")


def _killed_backup(d, work_dir, checkpoint, since):
    proc = subprocess.run([sys.executable, str(CHILD), URI, str(work_dir), d.uuid, checkpoint, since],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9 and "begun" in proc.stdout, proc.stderr
    assert backup_job_running(d.dom)


def test_killed_worker_then_next_backup_works(host, store, make_domain, work_dir, tmp_path):
    d = make_domain(fill=[("vda", 0, 8 * MiB, 0x11)])
    p1 = take(host, store, d, "p1", since=None, base=None)
    d.write("vda", 16 * MiB, 4 * MiB, 0x22)
    _killed_backup(d, work_dir, "azbk-p2", "azbk-p1")
    d.write("vda", 32 * MiB, 4 * MiB, 0x23)
    p3 = take(host, store, d, "p3", since="azbk-p1", base=p1.manifest)  # the job's retry, or the next backup
    assert any("left running" in n for n in p3.notes)
    assert p3.incremental and p3.bytes_read("vda") == 8 * MiB
    assert_identical(store, p3, tmp_path / "r")
    assert [c.getName() for c in d.dom.listAllCheckpoints(0)] == ["azbk-p3"]


def test_reaper_ends_the_leftover_job(host, make_domain, work_dir):
    d = make_domain(fill=[("vda", 0, 4 * MiB, 0x11)])
    _killed_backup(d, work_dir, "azbk-p1", "")
    assert host.end_leftover_backup(d.uuid) is True
    assert not backup_job_running(d.dom) and not (work_dir / d.uuid).exists()
    assert host.end_leftover_backup(d.uuid) is False


def test_shut_off_domain_is_read_offline(host, store, make_domain, tmp_path):
    d = make_domain(fill=[("vda", 0, 8 * MiB, 0x11)])
    p1 = take(host, store, d, "p1", since=None, base=None)
    d.shutdown()
    d.write("vda", 24 * MiB, 4 * MiB, 0x22)  # offline, through qemu-io: the bitmap records it
    p2 = take(host, store, d, "p2", since="azbk-p1", base=p1.manifest)
    assert p2.consistency == "crash" and any("shut off" in n for n in p2.notes)
    assert p2.incremental and p2.bytes_read("vda") == 4 * MiB
    assert p2.manifest.disk("vda").change_id == "azbk-p1"
    assert_identical(store, p2, tmp_path / "r")
    d.start()
    d.write("vda", 40 * MiB, 4 * MiB, 0x33)
    p3 = take(host, store, d, "p3", since="azbk-p1", base=p2.manifest)
    # From the last checkpoint: the offline write again, and the new one.
    assert p3.incremental and p3.bytes_read("vda") == 8 * MiB
    assert_identical(store, p3, tmp_path / "r")


def test_first_backup_of_a_shut_off_domain(host, store, make_domain, tmp_path):
    d = make_domain([("vda", "qcow2", 64 * MiB), ("vdb", "raw", 16 * MiB)], start=False,
                    fill=[("vda", 0, 4 * MiB, 0x11), ("vdb", 4 * MiB, 4 * MiB, 0x12)])
    p1 = take(host, store, d, "p1", since=None, base=None)
    assert not p1.incremental and p1.manifest.disk("vda").change_id == ""
    assert_identical(store, p1, tmp_path / "r")
    assert not (host.work_dir / d.uuid).exists()  # the qemu-nbd servers are gone, the domain can start
    d.start()
    d.write("vda", 8 * MiB, 4 * MiB, 0x22)
    p2 = take(host, store, d, "p2", since=None, base=p1.manifest)  # no checkpoint yet: full read, new chain
    assert p2.bytes_read("vda") == 8 * MiB and p2.manifest.disk("vda").stored_bytes_new < 5 * MiB
    assert_identical(store, p2, tmp_path / "r")
    p3 = take(host, store, d, "p3", since="azbk-p2", base=p2.manifest)
    assert p3.incremental and p3.bytes_read("vda") == 0
