"""The real fabric satisfies the engine protocols (skipped if the fabric is absent)."""

from __future__ import annotations

import filecmp
import os
from datetime import UTC, datetime

import pytest
from conftest import CS

from backup.engine import Snapshot, SnapshotDisk, Store, backup_snapshot, restore_point

disks = pytest.importorskip("backup.fabric.disks")
snapshots = pytest.importorskip("backup.fabric.snapshots")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_backup_fabric_snapshot_full_and_incremental(tmp_path):
    store = Store.init(tmp_path / "store")
    disk = disks.Disk.create(tmp_path / "vm" / "os.img", 8 * CS + 4096)
    disk.write(0, os.urandom(CS))
    disk.write(5 * CS + 17, os.urandom(100_000))
    snap = snapshots.take_snapshot({"os": disk}, consistency="crash")
    assert isinstance(snap, Snapshot) and isinstance(snap.disks[0], SnapshotDisk)
    full = backup_snapshot(store, item="vm", point_id="full", snapshot=snap, time=T0, base=None)
    # Writes after the snapshot must not leak into it (copy-on-write).
    before = disk.read(0, 8 * CS + 4096)
    disk.write(0, b"x" * 1000)
    restore_point(store, "full", {"os": tmp_path / "full.img"})
    assert (tmp_path / "full.img").read_bytes() == before
    snap.delete()
    snap2 = snapshots.take_snapshot({"os": disk}, consistency="crash")
    inc = backup_snapshot(store, item="vm", point_id="inc", snapshot=snap2, time=T0, base=full)
    assert inc.bytes_read == CS  # only chunk 0 changed
    restore_point(store, "inc", {"os": tmp_path / "inc.img"})
    assert filecmp.cmp(disk.path, tmp_path / "inc.img", shallow=False)
    snap2.delete()
