from __future__ import annotations

import filecmp
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CS, MiB, allocated_bytes, fill

from backup.engine import Cancelled, Store, backup_snapshot, restore_point, verify

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SIZE = 10 * CS + 12345  # last chunk is partial


def _populate(disk):
    fill(disk, 0, CS, seed=1)  # chunk 0 full
    fill(disk, 3 * CS + 100, 2 * MiB, seed=2, compressible=True)  # inside chunk 3
    fill(disk, 6 * CS - 1000, 3000, seed=3)  # straddles chunks 5/6
    fill(disk, 10 * CS, 12345, seed=4)  # the partial tail


def test_full_and_incrementals_restore_identical_and_sparse(store, make_disk, snapper, tmp_path):
    disk = make_disk("vm1", SIZE)
    _populate(disk)
    points, snaps, base = [], [], None
    for n in range(4):
        snap = snapper({"os": disk})
        m = backup_snapshot(store, item="vm1", point_id=f"p{n}", snapshot=snap, time=T0 + timedelta(days=n), base=base)
        points.append(m)
        snaps.append(snap)
        base = m
        fill(disk, (n + 1) * CS + 5000, 70000, seed=10 + n)  # writes between snapshots
    assert verify(store).ok
    for m, snap in zip(points, snaps, strict=True):
        target = tmp_path / f"restore-{m.point_id}.img"
        res = restore_point(store, m.point_id, {"os": target})
        src = snap.disk("os")
        assert filecmp.cmp(src.path, target, shallow=False)
        assert target.stat().st_size == SIZE
        # Sparse: allocation close to the source's, far below the virtual size.
        assert allocated_bytes(target) <= allocated_bytes(src.path) + 1024 * 1024
        assert res.bytes_written <= m.logical_bytes + 8 * 128 * 1024  # 64 KiB sparse granularity
    # Chunks entirely in holes are recorded as null.
    assert points[0].disks[0].chunks[8] is None and points[0].disks[0].chunks[9] is None


def test_incremental_reads_only_changed_chunks(store, make_disk, snapper):
    disk = make_disk("vm1", SIZE)
    _populate(disk)
    full = backup_snapshot(store, item="vm1", point_id="full", snapshot=snapper({"os": disk}), time=T0, base=None)
    assert full.bytes_read > 0
    fill(disk, 3 * CS + 10, 100, seed=99)  # one chunk changes
    snap = snapper({"os": disk})
    inc = backup_snapshot(store, item="vm1", point_id="inc", snapshot=snap, time=T0, base=full)
    assert snap.disk("os").bytes_read == CS
    assert inc.bytes_read == CS
    assert inc.disks[0].chunks[0] == full.disks[0].chunks[0]
    assert inc.disks[0].chunks[3] != full.disks[0].chunks[3]
    # Nothing changed: nothing read.
    snap2 = snapper({"os": disk})
    backup_snapshot(store, item="vm1", point_id="inc2", snapshot=snap2, time=T0, base=inc)
    assert snap2.disk("os").bytes_read == 0


def test_tracking_reset_falls_back_to_full_compare(store, make_disk, snapper, tmp_path):
    disk = make_disk("vm1", SIZE)
    _populate(disk)
    full = backup_snapshot(store, item="vm1", point_id="full", snapshot=snapper({"os": disk}), time=T0, base=None)
    disk.reset_tracking()
    fill(disk, 5 * CS, 10, seed=5)
    snap = snapper({"os": disk})
    inc = backup_snapshot(store, item="vm1", point_id="inc", snapshot=snap, time=T0, base=full)
    # Every allocated chunk read, never a hole; only the changed chunk is new.
    read_chunks = {off // CS for off, _ in snap.disk("os").reads}
    assert read_chunks == {0, 3, 5, 6, 10}
    assert 0 < inc.bytes_transferred < CS
    restore_point(store, "inc", {"os": tmp_path / "r.img"})
    assert filecmp.cmp(snap.disk("os").path, tmp_path / "r.img", shallow=False)


def test_new_disk_and_resized_disk(store, make_disk, snapper, tmp_path):
    d1 = make_disk("a", SIZE)
    _populate(d1)
    full = backup_snapshot(store, item="vm", point_id="p1", snapshot=snapper({"os": d1}), time=T0, base=None)
    d2 = make_disk("b", 3 * CS)
    fill(d2, CS, 100, seed=7)
    snap = snapper({"os": d1, "data-0": d2})
    m = backup_snapshot(store, item="vm", point_id="p2", snapshot=snap, time=T0, base=full)
    assert snap.disk("os").bytes_read == 0 and snap.disk("data-0").bytes_read == CS
    res = restore_point(store, "p2", {"os": tmp_path / "os.img", "data-0": tmp_path / "d.img"})
    assert set(res.files) == {"os", "data-0"}
    assert filecmp.cmp(snap.disk("data-0").path, tmp_path / "d.img", shallow=False)
    assert m.disk("data-0").chunks == [None, m.disk("data-0").chunks[1], None]


def test_retry_returns_committed_manifest(store, make_disk, snapper):
    disk = make_disk("vm1", SIZE)
    _populate(disk)
    m1 = backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    snap = snapper({"os": disk})
    m2 = backup_snapshot(store, item="vm1", point_id="p1", snapshot=snap, time=T0, base=None)
    assert m2 == m1 and snap.disk("os").bytes_read == 0
    assert store.load_manifest("p1") == m1
    assert [m.point_id for m in store.list_manifests("vm1")] == ["p1"]


@pytest.mark.parametrize("bad", ["", "a/b", "..", "x" * 65, "é"])
def test_ids_are_validated(store, make_disk, snapper, bad):
    disk = make_disk("vm1", CS)
    with pytest.raises(ValueError):
        backup_snapshot(store, item=bad, point_id="p", snapshot=snapper({"os": disk}), time=T0, base=None)
    with pytest.raises(ValueError):
        backup_snapshot(store, item="i", point_id=bad, snapshot=snapper({"os": disk}), time=T0, base=None)


def test_progress_and_cancel(store, make_disk, snapper):
    disk = make_disk("vm1", SIZE)
    _populate(disk)
    calls = []
    backup_snapshot(
        store,
        item="vm1",
        point_id="p1",
        snapshot=snapper({"os": disk}),
        time=T0,
        base=None,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[0] == (0, 5 * CS - CS + 12345)
    assert calls[-1][0] == calls[-1][1] > 0
    counter = {"n": 0}

    def cancel() -> bool:
        counter["n"] += 1
        return counter["n"] > 2

    with pytest.raises(Cancelled):
        backup_snapshot(
            store, item="vm1", point_id="p2", snapshot=snapper({"os": disk}), time=T0, base=None, cancel=cancel
        )
    assert not store.has_manifest("p2")


def test_restore_refuses_existing_target(store, make_disk, snapper, tmp_path):
    disk = make_disk("vm1", CS)
    fill(disk, 0, 100, seed=1)
    backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    target = tmp_path / "exists.img"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        restore_point(store, "p1", {"os": target})
    assert target.read_bytes() == b"keep me"


def test_store_init_is_idempotent_and_refuses_foreign(tmp_path):
    s = Store.init(tmp_path / "s")
    assert Store.init(tmp_path / "s").root == s.root
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "photo.jpg").write_bytes(b"x")
    from backup.engine import NotAStore

    with pytest.raises(NotAStore):
        Store.init(foreign)
    with pytest.raises(NotAStore):
        Store.open(foreign)
