"""libvirtd going away under a backup (it crashed once here, in libvirt 9.0): the call fails with
HostUnavailable saying so, and the next backup through the same Host reconnects and works.

This crashes libvirtd (SIGKILL) and starts it again; running domains survive that (QEMU keeps running and
libvirtd reconnects to it). The daemon runs again when the test ends, whatever happened. Only a libvirtd this run
started (tests/kvm/with-libvirtd.sh), or with CI or KVM_TEST_CRASH_LIBVIRTD=1 set: other sessions' calls and
clean-ups on a shared daemon fail while it is down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from backup import kvm
from backup.engine import backup_snapshot
from backup.kvm.backup import backup_job_running

from .conftest import MiB
from .points import Point, assert_identical, take

pytestmark = pytest.mark.libvirt

PID_FILE = Path("/run/libvirtd.pid")


def _libvirtd_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text().strip())
        return pid if Path(f"/proc/{pid}/comm").read_text().strip() == "libvirtd" else None
    except (OSError, ValueError):
        return None


def _answers() -> bool:
    return subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True).returncode == 0


def _start_libvirtd() -> None:
    if _libvirtd_pid() is None:
        subprocess.run(["libvirtd", "-d"], check=True)
    deadline = time.monotonic() + 30
    while not _answers():
        assert time.monotonic() < deadline, "libvirtd did not come back"
        time.sleep(0.1)


@pytest.fixture
def crash_libvirtd():
    if not any(os.environ.get(v) for v in ("KVM_TEST_OWN_LIBVIRTD", "CI", "KVM_TEST_CRASH_LIBVIRTD")):
        pytest.skip("libvirtd is the machine's, not this run's: set KVM_TEST_CRASH_LIBVIRTD=1 to crash it anyway")
    if _libvirtd_pid() is None:
        pytest.skip("libvirtd runs without /run/libvirtd.pid (systemd?): not crashing it")

    def crash() -> None:
        pid = _libvirtd_pid()
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.02)

    yield crash
    _start_libvirtd()


def test_libvirtd_crash_mid_backup_then_next_run_works(host, store, make_domain, crash_libvirtd, tmp_path):
    d = make_domain(fill=[("vda", 0, 8 * MiB, 0x11)])
    p1 = take(host, store, d, "p1", since=None, base=None)
    d.write("vda", 16 * MiB, 4 * MiB, 0x22)

    snap = host.begin_backup(d.uuid, checkpoint="azbk-p2", since="azbk-p1")
    crash_libvirtd()
    with pytest.raises(kvm.HostUnavailable, match="went away|Cannot connect"):
        snap.abandon()
    with pytest.raises(kvm.HostUnavailable):
        host.domain(d.uuid)
    _start_libvirtd()

    d.write("vda", 24 * MiB, 4 * MiB, 0x23)
    p3 = take(host, store, d, "p3", since="azbk-p1", base=p1.manifest)
    assert p3.incremental and p3.bytes_read("vda") == 8 * MiB, p3.notes
    assert_identical(store, p3, tmp_path / "r")


def test_libvirtd_restart_during_the_transfer_is_survived(host, store, make_domain, crash_libvirtd, tmp_path):
    d = make_domain(fill=[("vda", 0, 8 * MiB, 0x11)])
    with host.begin_backup(d.uuid, checkpoint="azbk-p1", since=None) as snap:
        crash_libvirtd()
        _start_libvirtd()  # back before the transfer ends: QEMU kept serving the export meanwhile
        manifest = backup_snapshot(store, item="vm", point_id="p1", snapshot=snap, time=snap.created_at, base=None)
        expected = d.snapshot_models()
    assert not backup_job_running(d.dom)
    assert_identical(store, Point(manifest, expected, [], "crash", "", False), tmp_path / "r")
    d.write("vda", 16 * MiB, 4 * MiB, 0x22)
    p2 = take(host, store, d, "p2", since="azbk-p1", base=manifest)
    assert p2.incremental and p2.bytes_read("vda") == 4 * MiB
