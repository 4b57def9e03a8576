"""Restore to a new domain: new volumes in the host's pool, a definition with a new name, no old UUID and new
MAC addresses, that starts; disks-only restores define nothing; an existing name is refused."""

from __future__ import annotations

import hashlib
import subprocess
import xml.etree.ElementTree as ET

import pytest

from backup import kvm
from backup.engine import restore_point

from .conftest import MiB, unique
from .points import take

pytestmark = pytest.mark.libvirt


def _restore_into_pool(host, store, point, pool, tmp_path, name):
    volumes = {}
    for disk in point.manifest.disks:
        raw = tmp_path / f"{disk.key}.raw"
        restore_point(store, point.manifest.point_id, {disk.key: raw})
        volume = host.create_volume(pool, f"{name}-{disk.key}.qcow2", disk.size)
        host.import_raw_image(raw, volume)
        raw.unlink()
        volumes[disk.key] = volume
    return volumes


def _image_digest(path, folder) -> str:
    raw = folder / "export.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(path), str(raw)], check=True)
    try:
        return hashlib.sha256(raw.read_bytes()).hexdigest()
    finally:
        raw.unlink()


def test_restore_to_new_domain_that_starts(host, store, make_domain, pool, lv, tmp_path):
    d = make_domain([("vda", "qcow2", 64 * MiB), ("vdb", "qcow2", 64 * MiB)],
                    fill=[("vda", 0, 4 * MiB, 0x11), ("vdb", 8 * MiB, 4 * MiB, 0x22)])
    point = take(host, store, d, "p1", since=None, base=None)
    name = unique()
    volumes = _restore_into_pool(host, store, point, pool, tmp_path, name)
    assert all(str(v).startswith(str(host.pool_path(pool))) for v in volumes.values())
    for key, volume in volumes.items():
        assert _image_digest(volume, tmp_path) == hashlib.sha256(point.expected[key]).hexdigest()

    with pytest.raises(kvm.KvmError, match="already exists"):
        host.define_restored_domain(point.domain_xml, d.name, volumes, start=False)
    new_uuid = host.define_restored_domain(point.domain_xml, name, volumes, start=True)
    try:
        new = lv.lookupByUUIDString(new_uuid)
        assert new.name() == name and new_uuid != d.uuid and new.isActive()
        old_root, new_root = ET.fromstring(d.dom.XMLDesc(0)), ET.fromstring(new.XMLDesc(0))
        old_macs = {m.get("address") for m in old_root.findall("devices/interface/mac")}
        new_macs = {m.get("address") for m in new_root.findall("devices/interface/mac")}
        assert new_macs and not new_macs & old_macs
        assert [s.get("file") for s in new_root.findall("devices/disk/source")] == [str(volumes["vda"]),
                                                                                  str(volumes["vdb"])]
        assert new.listAllCheckpoints(0) == []
        info = host.domain(new_uuid)
        assert info.running and [x.target for x in info.disks] == ["vda", "vdb"]
    finally:
        host.undefine_domain(new_uuid)
    for volume in volumes.values():
        host.delete_volume(volume)
        assert not volume.exists()


def test_errors_name_the_problem(host, make_domain):
    with pytest.raises(kvm.PoolNotFound, match="does not exist"):
        host.create_volume("azbt-no-such-pool", "x.qcow2", MiB)
    with pytest.raises(kvm.DomainNotFound):
        host.domain("00000000-0000-4000-8000-000000000000")
    with pytest.raises(kvm.HostUnavailable, match="Cannot connect"):
        kvm.Host("qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    with pytest.raises(kvm.KvmError, match="run the backup worker on that host"):
        h = object.__new__(kvm.Host)
        h.uri = "qemu+ssh://root@kvm2.example.net/system"
        h.begin_backup("x", checkpoint="azbk-1", since=None)
