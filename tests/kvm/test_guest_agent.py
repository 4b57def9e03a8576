"""A tiny Linux guest with qemu-guest-agent (under TCG): the agent freezes the file systems around the point in
time, so the point is file-system consistent and the guest is thawed afterwards; the point restored to a new
domain boots, its agent answers and it mounts its restored disk, which fsck finds clean."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time

import pytest

from backup.engine import restore_point

from . import guest
from .conftest import MiB, unique
from .points import take

pytestmark = pytest.mark.libvirt


def agent(dom, command: str, **arguments) -> object:
    import libvirt_qemu

    msg = {"execute": command, **({"arguments": arguments} if arguments else {})}
    return json.loads(libvirt_qemu.qemuAgentCommand(dom, json.dumps(msg), 10, 0))["return"]


def guest_mounts(dom) -> str:
    pid = agent(dom, "guest-exec", path="/bin/cat", arg=["/proc/mounts"], **{"capture-output": True})["pid"]
    deadline = time.monotonic() + 20
    while True:
        status = agent(dom, "guest-exec-status", pid=pid)
        if status.get("exited") or time.monotonic() > deadline:
            return base64.b64decode(status.get("out-data", "")).decode()
        time.sleep(0.2)


@pytest.fixture
def linux_guest(lv, images_dir):
    try:
        kernel, initrd = guest.build()
    except guest.GuestUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no test guest: {exc}")
    name = unique()
    raw, disk = images_dir / f"{name}.raw", images_dir / f"{name}-vda.qcow2"
    subprocess.run(["truncate", "-s", str(64 * MiB), str(raw)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(raw)], check=True)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(disk)], check=True)
    raw.unlink()
    os.chmod(disk, 0o644)
    consoles = images_dir / "consoles"
    consoles.mkdir(mode=0o777, exist_ok=True)
    os.chmod(consoles, 0o777)  # QEMU (libvirt-qemu) writes the serial console there
    dom = lv.defineXML(guest.domain_xml(name, disk, kernel, initrd, consoles / f"{name}.log"))
    made = [dom.UUIDString()]
    dom.create()
    yield dom, made
    import libvirt

    for uuid in made:
        try:
            d = lv.lookupByUUIDString(uuid)
            if d.isActive():
                d.destroy()
            d.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
        except libvirt.libvirtError:
            pass
    disk.unlink(missing_ok=True)


def test_agent_freeze_thaw_and_restored_guest_boots(host, store, linux_guest, pool, lv, tmp_path):
    dom, made = linux_guest
    uuid = dom.UUIDString()
    assert host.wait_for_agent(uuid, 120), "the test guest's agent did not answer"
    info = host.domain(uuid)
    assert info.agent_channel and info.agent_responds
    assert " /mnt ext4 " in guest_mounts(dom)

    point = take(host, store, _Domain(uuid), "p1", since=None, base=None)
    assert point.consistency == "file", point.notes
    assert agent(dom, "guest-fsfreeze-status") == "thawed"

    raw = tmp_path / "vda.raw"
    restore_point(store, "p1", {"vda": raw})
    fsck = subprocess.run(["e2fsck", "-n", "-f", str(raw)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    name = unique()
    volume = host.create_volume(pool, f"{name}-vda.qcow2", 64 * MiB)
    host.import_raw_image(raw, volume)
    new_uuid = host.define_restored_domain(point.domain_xml, name, {"vda": volume}, start=True)
    made.append(new_uuid)
    assert host.wait_for_agent(new_uuid, 120), "the restored guest's agent did not answer"
    new = lv.lookupByUUIDString(new_uuid)
    assert " /mnt ext4 " in guest_mounts(new)
    host.undefine_domain(new_uuid)
    host.delete_volume(volume)


class _Domain:
    """What points.take needs of a test domain: its uuid, and the disk contents at the point (none known here:
    the guest itself writes, so this test checks the file system instead of bytes)."""

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid

    def snapshot_models(self) -> dict[str, bytes]:
        return {}
