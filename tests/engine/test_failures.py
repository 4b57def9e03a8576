from __future__ import annotations

import errno
import os
from datetime import UTC, datetime

import pytest
from conftest import CS, fill

from backup.engine import CorruptChunk, MissingChunk, StoreFull, backup_snapshot, fsutil, restore_point, verify

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _two_points(store, make_disk, snapper):
    disk = make_disk("vm1", 6 * CS)
    fill(disk, 0, 3 * CS, seed=1)
    m1 = backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    fill(disk, 4 * CS, CS, seed=2)
    m2 = backup_snapshot(store, item="vm1", point_id="p2", snapshot=snapper({"os": disk}), time=T0, base=m1)
    return m1, m2


def test_corrupt_chunk_detected_by_verify_and_restore(store, make_disk, snapper, tmp_path):
    m1, m2 = _two_points(store, make_disk, snapper)
    bad = m1.disks[0].chunks[1]
    path = store.chunk_path(bad)
    raw = bytearray(path.read_bytes())
    raw[1000] ^= 0xFF
    path.write_bytes(bytes(raw))
    report = verify(store)
    assert not report.ok and not report.missing
    assert [p.chunk_hash for p in report.corrupt] == [bad]
    assert set(report.corrupt[0].references) == {("p1", "os"), ("p2", "os")}
    target = tmp_path / "r.img"
    with pytest.raises(CorruptChunk) as exc:
        restore_point(store, "p2", {"os": target})
    assert "p2" in str(exc.value) and "disk os" in str(exc.value)
    assert not target.exists()  # partial file removed


def test_missing_chunk(store, make_disk, snapper, tmp_path):
    m1, _ = _two_points(store, make_disk, snapper)
    gone = m1.disks[0].chunks[2]
    store.chunk_path(gone).unlink()
    report = verify(store, ["p1"])
    assert [p.chunk_hash for p in report.missing] == [gone] and report.points_checked == ["p1"]
    with pytest.raises(MissingChunk, match="recovery point p1, disk os"):
        restore_point(store, "p1", {"os": tmp_path / "r.img"})
    assert not (tmp_path / "r.img").exists()


def test_enospc_raises_store_full_and_leaves_nothing(store, make_disk, snapper, tmp_path, monkeypatch):
    m1, m2 = _two_points(store, make_disk, snapper)
    disk = make_disk("vm2", 6 * CS)
    fill(disk, 0, 4 * CS, seed=7)
    real = fsutil.write_all
    calls = {"n": 0}

    def failing(fd, parts):
        calls["n"] += 1
        if calls["n"] >= 2:
            real(fd, [memoryview(parts[0])])  # half-written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, parts)

    monkeypatch.setattr(fsutil, "write_all", failing)
    with pytest.raises(StoreFull, match="vault storage is full"):
        backup_snapshot(store, item="vm2", point_id="p3", snapshot=snapper({"os": disk}), time=T0, base=None)
    monkeypatch.setattr(fsutil, "write_all", real)
    assert not store.has_manifest("p3")
    leftovers = [e.name for e in os.scandir(store.chunks_dir / "00")] + [
        n for d in store.chunks_dir.iterdir() for n in os.listdir(d) if n.startswith(".")
    ]
    assert not [n for n in leftovers if n.startswith(".")]
    assert not list(store.leases_dir.iterdir())
    assert verify(store).ok
    restore_point(store, "p2", {"os": tmp_path / "r.img"})
    # And the next backup works.
    backup_snapshot(store, item="vm2", point_id="p3", snapshot=snapper({"os": disk}), time=T0, base=None)
    assert verify(store).ok
