"""Holds: a soft-deleted item's manifests stay GC roots, and prune/delete_item refuse them, until the purge time;
released, the item's points restore byte-identically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import CS, fill

from backup import engine
from backup.engine import backup_snapshot, collect_garbage, restore_point
from backup.engine.holds import check_not_held

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def point(store, make_disk, snapper):
    disk = make_disk("a", 4 * CS)
    fill(disk, 0, 2 * CS, seed=7)
    backup_snapshot(store, item="vm-a", point_id="a1", snapshot=snapper({"os": disk}), time=T0, base=None)
    return disk


def test_a_held_item_cannot_be_pruned_or_deleted_until_its_time(store, point):
    until = datetime.now(UTC) + timedelta(days=14)
    engine.hold_item(store, "vm-a", until)
    assert engine.held_until(store, "vm-a") == until and engine.holds(store) == {"vm-a": until}
    with pytest.raises(engine.ItemHeld, match="soft deleted and held until"):
        engine.delete_item(store, "vm-a")
    with pytest.raises(engine.ItemHeld):
        engine.prune(store, ["a1"])
    assert store.has_manifest("a1")
    check_not_held(store, {"vm-a"}, now=until + timedelta(seconds=1))  # past its time it may go
    assert engine.release_item(store, "vm-a") and not engine.release_item(store, "vm-a")
    assert engine.delete_item(store, "vm-a") == ["a1"]


def test_gc_never_frees_a_held_items_chunks_and_it_restores_after_release(store, point, tmp_path):
    engine.hold_item(store, "vm-a", datetime.now(UTC) + timedelta(days=14))
    report = collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + timedelta(hours=2))
    assert report.chunks_removed == 0 and report.chunks_kept == 2
    engine.release_item(store, "vm-a")
    target = tmp_path / "restored.img"
    restore_point(store, "a1", {"os": target})
    assert target.read_bytes() == point.path.read_bytes()
