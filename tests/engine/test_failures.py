from __future__ import annotations

import errno
import os
from datetime import UTC, datetime

import pytest
from conftest import CS, chunk_hashes, fill, raw_chunk, remove_chunk, write_raw_chunk

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
    raw = bytearray(raw_chunk(store, bad))
    raw[1000] ^= 0xFF
    write_raw_chunk(store, bad, bytes(raw))
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
    remove_chunk(store, gone)
    report = verify(store, ["p1"])
    assert [p.chunk_hash for p in report.missing] == [gone] and report.points_checked == ["p1"]
    with pytest.raises(MissingChunk, match="recovery point p1, disk os"):
        restore_point(store, "p1", {"os": tmp_path / "r.img"})
    assert not (tmp_path / "r.img").exists()


@pytest.mark.fs_only  # ENOSPC of a file system; a bucket is never full
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


def _chunk_names(store) -> set[str]:
    return set(chunk_hashes(store))


@pytest.mark.fs_only  # ENOSPC
def test_a_backup_that_runs_out_of_space_removes_the_chunks_only_it_wrote(store, make_disk, snapper, monkeypatch):
    _two_points(store, make_disk, snapper)
    before = _chunk_names(store)
    disk = make_disk("vm2", 8 * CS)
    fill(disk, 0, 6 * CS, seed=7)
    real = fsutil.write_all
    calls = {"n": 0}

    def full_after_three_chunks(fd, parts):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, parts)

    monkeypatch.setattr(fsutil, "write_all", full_after_three_chunks)
    with pytest.raises(StoreFull) as full:
        backup_snapshot(store, item="vm2", point_id="p3", snapshot=snapper({"os": disk}), time=T0, base=None, workers=1)
    monkeypatch.setattr(fsutil, "write_all", real)
    # No garbage collection needed: the space is usable again at once.
    assert _chunk_names(store) == before
    assert not [n for d in store.chunks_dir.iterdir() for n in os.listdir(d) if n.startswith(".")]
    assert full.value.needed_bytes >= 3 * CS and full.value.free_bytes > 0
    assert verify(store).ok


@pytest.mark.fs_only  # touch marks (atime); the S3 store's rule is tested in test_s3store.py
def test_a_cancelled_backup_keeps_a_fresh_chunk_another_backup_deduplicated_onto(store, make_disk, snapper):
    _two_points(store, make_disk, snapper)
    before = _chunk_names(store)
    disk = make_disk("vm2", 8 * CS)
    fill(disk, 0, 6 * CS, seed=8)
    seen: list[int] = []
    shared: list[str] = []

    def cancel_after_some_chunks() -> bool:
        fresh = _chunk_names(store) - before
        if fresh and not shared:
            shared.append(sorted(fresh)[0])
            assert store.touch_chunk(shared[0])  # what a concurrent backup deduplicating onto it does
        seen.append(len(fresh))
        return len(fresh) >= 3

    from backup.engine import Cancelled

    with pytest.raises(Cancelled):
        backup_snapshot(
            store,
            item="vm2",
            point_id="p3",
            snapshot=snapper({"os": disk}),
            time=T0,
            base=None,
            cancel=cancel_after_some_chunks,
            workers=1,
        )
    assert _chunk_names(store) == before | set(shared)
    assert verify(store).ok


def test_a_restore_onto_a_full_target_raises_store_full_and_removes_the_file(
    store, make_disk, snapper, tmp_path, monkeypatch
):
    _, m2 = _two_points(store, make_disk, snapper)
    real = os.pwrite
    calls = {"n": 0}

    def failing(fd, data, offset):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", failing)
    target = tmp_path / "r.img"
    with pytest.raises(StoreFull):
        restore_point(store, "p2", {"os": target})
    assert calls["n"] > 2
    assert not target.exists()
    monkeypatch.undo()
    restore_point(store, "p2", {"os": target})
    assert target.stat().st_size == m2.disks[0].size
