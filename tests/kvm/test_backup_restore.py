"""Full and incremental backups of a running domain while the guest keeps writing, restored byte-identical to
the disks at each point in time; the checkpoint chain stays one checkpoint long."""

from __future__ import annotations

import pytest

from .conftest import MiB
from .points import assert_identical, take

pytestmark = pytest.mark.libvirt


def test_full_then_incrementals_restore_identical(host, store, make_domain, tmp_path):
    d = make_domain([("vda", "qcow2", 128 * MiB), ("vdb", "raw", 32 * MiB)],
                    fill=[("vda", 0, 8 * MiB, 0x11), ("vda", 40 * MiB, 4 * MiB, 0x12), ("vdb", 4 * MiB, 4 * MiB, 0x13)])
    info = host.domain(d.uuid)
    assert [(x.target, x.format, x.trackable) for x in info.disks] == [("vda", "qcow2", True), ("vdb", "raw", False)]
    assert info.disks[0].capacity == 128 * MiB and info.running and info.agent_channel is False

    p1 = take(host, store, d, "p1", since=None, base=None,
              during=lambda: d.write("vda", 0, 4 * MiB, 0x21))  # after the point: must not be in p1
    assert p1.consistency == "crash" and any("vdb" in n for n in p1.notes)
    assert p1.bytes_read("vda") == 12 * MiB  # only allocated extents
    assert "<name>" + d.name + "</name>" in p1.domain_xml
    assert_identical(store, p1, tmp_path / "r")

    d.write("vda", 64 * MiB, 4 * MiB, 0x31)
    d.write("vda", 100 * MiB, 8 * MiB, 0x32)
    p2 = take(host, store, d, "p2", since="azbk-p1", base=p1.manifest,
              during=lambda: (d.write("vda", 64 * MiB, 4 * MiB, 0x41), d.write("vda", 120 * MiB, 4 * MiB, 0x42)))
    assert p2.incremental and not any("Full read" in n for n in p2.notes)
    # Since p1: the write that landed during p1's transfer (4 MiB) and the two before p2 (12 MiB).
    assert p2.bytes_read("vda") == 16 * MiB
    # Raw: no bitmap, so all its data is read again (its written chunk, and the first one, where qemu-img
    # allocates 4 KiB when it creates the image).
    assert p2.bytes_read("vdb") == 8 * MiB
    assert_identical(store, p2, tmp_path / "r")

    p3 = take(host, store, d, "p3", since="azbk-p2", base=p2.manifest)
    assert p3.bytes_read("vda") == 8 * MiB  # the two writes during p2's transfer
    assert_identical(store, p3, tmp_path / "r")
    assert [c.getName() for c in d.dom.listAllCheckpoints(0)] == ["azbk-p3"]
    assert_identical(store, p1, tmp_path / "r")  # older points stay restorable


def test_failed_backup_leaves_the_previous_checkpoint_usable(host, store, make_domain, tmp_path):
    d = make_domain(fill=[("vda", 0, 4 * MiB, 0x11)])
    p1 = take(host, store, d, "p1", since=None, base=None)
    d.write("vda", 8 * MiB, 4 * MiB, 0x22)
    with pytest.raises(RuntimeError), host.begin_backup(d.uuid, checkpoint="azbk-p2", since="azbk-p1"):
        raise RuntimeError("the engine failed")
    assert [c.getName() for c in d.dom.listAllCheckpoints(0)] == ["azbk-p1"]
    d.write("vda", 16 * MiB, 4 * MiB, 0x23)
    p3 = take(host, store, d, "p3", since="azbk-p1", base=p1.manifest)
    assert p3.incremental and p3.bytes_read("vda") == 8 * MiB
    assert_identical(store, p3, tmp_path / "r")


def test_without_an_answering_agent_points_are_crash_consistent(host, store, make_domain):
    silent = make_domain(agent=True, fill=[("vda", 0, 4 * MiB, 0x11)])  # channel, but no agent behind it
    info = host.domain(silent.uuid)
    assert info.agent_channel and not info.agent_responds
    p = take(host, store, silent, "p1", since=None, base=None)
    assert p.consistency == "crash"
    assert any("did not freeze" in n and "crash-consistent" in n for n in p.notes), p.notes
    absent = make_domain(fill=[("vda", 0, 4 * MiB, 0x11)])
    p = take(host, store, absent, "p2", since=None, base=None)
    assert p.consistency == "crash" and any("no guest agent channel" in n for n in p.notes), p.notes


def test_cancelled_backup_ends_the_job_and_the_next_one_works(host, store, make_domain, tmp_path):
    from backup.engine import Cancelled, backup_snapshot
    from backup.kvm.backup import backup_job_running

    d = make_domain(fill=[("vda", 0, 16 * MiB, 0x11)])
    assert d.uuid in {x.uuid for x in host.list_domains()}
    p1 = take(host, store, d, "p1", since=None, base=None)
    d.write("vda", 0, 16 * MiB, 0x22)
    with pytest.raises(Cancelled), host.begin_backup(d.uuid, checkpoint="azbk-p2", since="azbk-p1") as snap:
        backup_snapshot(store, item="vm", point_id="p2", snapshot=snap, time=snap.created_at, base=p1.manifest,
                        cancel=lambda: True)
    assert not backup_job_running(d.dom) and not store.has_manifest("p2")
    assert [c.getName() for c in d.dom.listAllCheckpoints(0)] == ["azbk-p1"]  # as it was
    p3 = take(host, store, d, "p3", since="azbk-p1", base=p1.manifest)
    assert p3.incremental and p3.bytes_read("vda") == 16 * MiB
    assert_identical(store, p3, tmp_path / "r")
