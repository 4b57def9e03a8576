"""A real Linux guest under TCG: file-consistent points through its agent's freeze and thaw, crash-consistent
ones when the agent hangs, and a restore into a new domain that boots.

One guest serves the module (booting costs seconds under TCG); the hung-agent test stops its agent for good, so
it comes last.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from backup.engine import Cancelled, backup_snapshot, restore_point

from ..conftest import unique
from .conftest import AGENT_TIMEOUT_S, BOOT_TIMEOUT_S, remove_domain
from .domain import agent_command, serial_tail
from .image import AGENT_OFF_FLAG, TICKS_FILE

pytestmark = pytest.mark.libvirt

QUIESCE_TIMEOUT_S = 5.0
SLACK_S = 8.0  # backupBegin, the scratch file, a busy machine; asking the hung agent thrice took 15 s
BOOT_TARGET_S = 30.0


def fsfreeze_status(dom) -> str:
    return str(agent_command(dom, "guest-fsfreeze-status"))


def checkpoint_name() -> str:
    from backup.kvm.checkpoints import PREFIX

    return f"{PREFIX}{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def libvirt_module():
    import libvirt

    return libvirt


def no_job_left(libvirt, dom, wait_s: float = 5.0) -> bool:
    """No job running on the domain (an aborted backup job ends a moment after abortJob returns)."""
    deadline = time.monotonic() + wait_s
    while dom.jobInfo()[0] in (libvirt.VIR_DOMAIN_JOB_BOUNDED, libvirt.VIR_DOMAIN_JOB_UNBOUNDED):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_guest_boots_to_its_agent_and_freezes(guest, guest_host):
    assert guest.boot_s < BOOT_TARGET_S, f"boot to agent took {guest.boot_s:.1f} s under TCG"
    info = guest_host.domain(guest.uuid)
    assert info.agent_channel and info.agent_responds and info.running
    assert fsfreeze_status(guest.dom) == "thawed"
    try:
        assert agent_command(guest.dom, "guest-fsfreeze-freeze") >= 1  # the root file system at least
        assert fsfreeze_status(guest.dom) == "frozen"
    finally:
        agent_command(guest.dom, "guest-fsfreeze-thaw")
    assert fsfreeze_status(guest.dom) == "thawed"


@dataclass(frozen=True)
class Point:
    point_id: str
    consistency: str
    manifest_consistency: str
    notes: list[str]
    domain_xml: str
    status_during_transfer: str
    size: int


@pytest.fixture(scope="module")
def file_point(guest, guest_host, guest_store) -> Point:
    """A quiesced backup of the running guest, kept in the store for the restore test."""
    with guest_host.begin_backup(guest.uuid, checkpoint=checkpoint_name(), since=None, quiesce=True,
                                 quiesce_timeout_s=QUIESCE_TIMEOUT_S) as snap:
        status = fsfreeze_status(guest.dom)  # thawed already: the guest writes on while the point is read
        manifest = backup_snapshot(guest_store, item="guest", point_id="p-file", snapshot=snap, time=snap.created_at,
                                   base=None)
        return Point(point_id="p-file", consistency=snap.consistency, manifest_consistency=manifest.consistency,
                     notes=list(snap.notes), domain_xml=snap.domain_xml, status_during_transfer=status,
                     size=manifest.disk("vda").size)


def test_quiesced_backup_is_file_consistent_and_the_guest_is_thawed(guest, file_point, libvirt_module):
    assert file_point.consistency == "file", file_point.notes
    assert file_point.manifest_consistency == "file"
    assert file_point.status_during_transfer == "thawed"
    assert fsfreeze_status(guest.dom) == "thawed"
    assert no_job_left(libvirt_module, guest.dom)


def test_thawed_when_the_backup_fails_right_after_begin(guest, guest_host, guest_store, libvirt_module):
    begin = guest_host.begin_backup
    with pytest.raises(Cancelled), begin(guest.uuid, checkpoint=checkpoint_name(), since=None, quiesce=True,
                                         quiesce_timeout_s=QUIESCE_TIMEOUT_S) as snap:
        assert snap.consistency == "file", snap.notes
        backup_snapshot(guest_store, item="guest", point_id="p-cancelled", snapshot=snap, time=snap.created_at,
                        base=None, cancel=lambda: True)
    assert fsfreeze_status(guest.dom) == "thawed"
    assert no_job_left(libvirt_module, guest.dom)


def test_thawed_when_backup_begin_fails_after_the_freeze(guest, guest_host, libvirt_module):
    """A bitmap already named like the new checkpoint makes backupBegin fail while the guest is frozen."""
    from backup.kvm import KvmError

    dom = guest.dom
    checkpoint = unique("azbt-guest-clash")  # not the product's prefix: its clean-up leaves the bitmap alone
    node = _root_node(dom)
    qmp(dom, "block-dirty-bitmap-add", {"node": node, "name": checkpoint})
    try:
        with pytest.raises(KvmError, match="backup job"):
            guest_host.begin_backup(dom.UUIDString(), checkpoint=checkpoint, since=None, quiesce=True,
                                    quiesce_timeout_s=QUIESCE_TIMEOUT_S)
        assert fsfreeze_status(dom) == "thawed"
        assert no_job_left(libvirt_module, dom)
        assert not (guest_host.work_dir / guest.uuid).exists()
    finally:
        qmp(dom, "block-dirty-bitmap-remove", {"node": node, "name": checkpoint})


def test_a_backup_job_not_ours_is_refused_and_the_guest_stays_thawed(guest, guest_host, qemu_dir, libvirt_module):
    from backup.kvm import BackupBusy

    dom = guest.dom
    foreign = qemu_dir / unique("foreign")
    foreign.mkdir()
    foreign.chmod(0o1777)
    dom.backupBegin(f"""<domainbackup mode='pull'>
  <server transport='unix' socket='{foreign}/nbd.sock'/>
  <disks><disk name='vda' backup='yes' type='file'><scratch file='{foreign}/vda.scratch'/></disk></disks>
</domainbackup>""", None, 0)
    try:
        with pytest.raises(BackupBusy):
            guest_host.begin_backup(dom.UUIDString(), checkpoint=checkpoint_name(), since=None, quiesce=True,
                                    quiesce_timeout_s=QUIESCE_TIMEOUT_S)
        assert fsfreeze_status(dom) == "thawed"
    finally:
        dom.abortJob()
    assert no_job_left(libvirt_module, dom)


def test_reaper_thaws_a_guest_a_killed_worker_left_frozen(guest, guest_host):
    guest.dom.fsFreeze(None, 0)
    try:
        assert fsfreeze_status(guest.dom) == "frozen"
        guest_host.end_leftover_backup(guest.uuid)
        assert fsfreeze_status(guest.dom) == "thawed"
    finally:
        agent_command(guest.dom, "guest-fsfreeze-thaw")


def test_restored_domain_boots_and_its_agent_answers(file_point, guest_host, guest_store, pool, tmp_path, lv,
                                                      libvirt_module):
    raw = tmp_path / "vda.raw"
    restore_point(guest_store, file_point.point_id, {"vda": raw})
    name = unique("azbt-guest-restored")
    volume = guest_host.create_volume(pool, f"{name}-vda.qcow2", file_point.size)
    new_uuid = None
    try:
        guest_host.import_raw_image(raw, volume)
        compared = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(volume), str(raw)],
                                  capture_output=True, text=True)
        assert compared.returncode == 0, compared.stdout + compared.stderr
        export = tmp_path / "export.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(volume), str(export)], check=True)
        fsck = subprocess.run(["e2fsck", "-fn", str(export)], capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        # The freeze flushed what the guest had written into its page cache: whole lines up to the point.
        ticks = subprocess.run(["debugfs", "-R", f"cat {TICKS_FILE}", str(export)], capture_output=True, text=True)
        assert ticks.stdout.startswith("tick ") and ticks.stdout.endswith("\n"), ticks.stdout[-200:] + ticks.stderr

        start = time.monotonic()
        new_uuid = guest_host.define_restored_domain(file_point.domain_xml, name, {"vda": volume}, start=True)
        answered = guest_host.wait_for_agent(new_uuid, BOOT_TIMEOUT_S)
        restored = lv.lookupByUUIDString(new_uuid)
        assert answered, f"restored {name}: no agent after {BOOT_TIMEOUT_S:.0f} s; serial console:\n" + \
            serial_tail(_serial_log(restored))
        print(f"restored {name}: boot to agent {time.monotonic() - start:.1f} s under TCG")
        assert restored.name() == name
        assert new_uuid != _source_uuid(file_point.domain_xml)
    finally:
        if new_uuid is not None:
            try:
                guest_host.undefine_domain(new_uuid)
            finally:
                remove_domain(lv, name)  # whatever undefine left
        guest_host.delete_volume(volume)
    assert not volume.exists()
    with pytest.raises(libvirt_module.libvirtError):
        lv.lookupByName(name)


def test_hung_agent_gives_a_crash_consistent_point_in_bounded_time(guest, guest_host, guest_store, libvirt_module):
    dom = guest.dom
    # Stopped, not killed: the port stays open, so the agent looks connected and never answers.
    agent_command(dom, "guest-exec", {"path": "/bin/sh",
                                      "arg": ["-c", f"touch {AGENT_OFF_FLAG}; sleep 1; kill -STOP $(pidof qemu-ga)"]})
    deadline = time.monotonic() + 20
    while _agent_answers(dom, libvirt_module):
        assert time.monotonic() < deadline, "the guest's agent still answers after kill -STOP"
        time.sleep(0.5)

    start = time.monotonic()
    with guest_host.begin_backup(dom.UUIDString(), checkpoint=checkpoint_name(), since=None, quiesce=True,
                           quiesce_timeout_s=QUIESCE_TIMEOUT_S) as snap:
        began_s = time.monotonic() - start
        manifest = backup_snapshot(guest_store, item="guest", point_id="p-crash", snapshot=snap,
                                   time=datetime.now(UTC), base=None)
    assert began_s < max(AGENT_TIMEOUT_S, QUIESCE_TIMEOUT_S) + SLACK_S, f"begin_backup took {began_s:.1f} s"
    assert snap.consistency == "crash"
    assert manifest.consistency == "crash"
    assert any("agent" in note for note in snap.notes), snap.notes
    assert no_job_left(libvirt_module, dom)


def _agent_answers(dom, libvirt) -> bool:
    try:
        agent_command(dom, "guest-ping", timeout_s=2)
        return True
    except libvirt.libvirtError:
        return False


def qmp(dom, command: str, arguments: dict) -> object:
    import libvirt_qemu

    return json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps({"execute": command, "arguments": arguments}),
                                                      0))["return"]


def _root_node(dom) -> str:
    import libvirt_qemu

    for dev in json.loads(libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-block"}', 0))["return"]:
        if dev.get("qdev", "").startswith("/machine/peripheral/virtio-disk0"):
            return str(dev["inserted"]["node-name"])
    raise AssertionError("no virtio-disk0 in query-block")


def test_channel_without_an_agent_gives_a_crash_consistent_point_at_once(make_domain, guest_host, guest_store):
    domain = make_domain(agent=True)  # no OS: the channel is there, nothing in the guest ever opens it
    start = time.monotonic()
    with guest_host.begin_backup(domain.uuid, checkpoint=checkpoint_name(), since=None, quiesce=True,
                                 quiesce_timeout_s=QUIESCE_TIMEOUT_S) as snap:
        began_s = time.monotonic() - start
        manifest = backup_snapshot(guest_store, item="no-agent", point_id="p-no-agent", snapshot=snap,
                                   time=datetime.now(UTC), base=None)
    assert began_s < SLACK_S, f"begin_backup took {began_s:.1f} s"
    assert (snap.consistency, manifest.consistency) == ("crash", "crash")
    assert any("not answering" in note for note in snap.notes), snap.notes


def _serial_log(dom):
    from pathlib import Path
    from xml.etree import ElementTree

    serial = ElementTree.fromstring(dom.XMLDesc(0)).find("devices/serial")
    source = serial.find("source") if serial is not None and serial.get("type") == "file" else None
    return Path(source.get("path", "")) if source is not None else Path("/nonexistent")  # a pty: nothing to read


def _source_uuid(domain_xml: str) -> str:
    from xml.etree import ElementTree

    return ElementTree.fromstring(domain_xml).findtext("uuid", "")
