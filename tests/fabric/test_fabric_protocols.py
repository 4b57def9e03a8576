"""The simulated fabric is one implementation of backup.fabric.protocols: mypy checks each binding below
(it is in `make lint`), and the tests check the objects a running fabric hands out."""

from pathlib import Path

from backup.fabric import agents, layout, limits, snapshots
from backup.fabric import protocols as p
from backup.fabric.disks import Disk

# Each line fails type checking if the simulated fabric stops matching its protocol.
DISKS: p.Disks[Disk] = Disk
SNAPSHOTS: p.Snapshots[Disk] = snapshots
INVENTORY: p.Inventory = limits
AGENTS: p.Agents = agents
RESTORE_TARGETS: p.RestoreTargets = layout

MiB = 1 << 20


def _members(protocol: type) -> set[str]:
    names = {n for n in vars(protocol) if not n.startswith("_")}
    return names | set(getattr(protocol, "__annotations__", {}))


def test_every_part_of_the_simulated_fabric_has_what_its_protocol_names():
    for part, protocol in ((DISKS, p.Disks), (SNAPSHOTS, p.Snapshots), (INVENTORY, p.Inventory),
                           (AGENTS, p.Agents), (RESTORE_TARGETS, p.RestoreTargets)):
        missing = {name for name in _members(protocol) if not hasattr(part, name)}
        assert missing == set(), (part, missing)


def test_its_disks_and_snapshots_are_the_protocols_objects(tmp_path: Path):
    disk = DISKS.create(tmp_path / "os.img", 8 * MiB)
    disk.write(0, b"boot" * 1024)
    assert isinstance(disk, p.VirtualDisk)
    with SNAPSHOTS.take_snapshot({"os": disk}, "crash") as snap:
        assert isinstance(snap, p.Snapshot)
        assert [d.key for d in snap.disks] == ["os"]
        assert all(isinstance(d, p.SnapshotDisk) for d in snap.disks)
        assert SNAPSHOTS.list_snapshot_ids(disk.path) == [snap.id]
        snap.delete()
    assert SNAPSHOTS.list_snapshot_ids(disk.path) == []

