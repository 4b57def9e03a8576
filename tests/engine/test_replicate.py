from __future__ import annotations

import filecmp
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CS, fill, raw_chunk, write_raw_chunk

from backup.engine import (
    CorruptChunk,
    S3Store,
    Store,
    backup_snapshot,
    collect_garbage,
    missing_points,
    replicate_point,
    restore_point,
    verify,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def secondary(tmp_path) -> Store:
    return Store.init(tmp_path / "secondary")


def _lose(store) -> None:
    if isinstance(store, S3Store):
        store.objects.delete_many([entry["Name"] for entry in store.objects.list_names("")])
    else:
        shutil.rmtree(store.root)


def _two_points(store, make_disk, snapper):
    disk = make_disk("vm1", 8 * CS)
    fill(disk, 0, 3 * CS, seed=1)
    first_snap = snapper({"os": disk})
    first = backup_snapshot(store, item="vm1", point_id="p0", snapshot=first_snap, time=T0, base=None)
    fill(disk, 5 * CS, 100, seed=2)  # one more chunk; the other three are shared
    second_snap = snapper({"os": disk})
    second = backup_snapshot(
        store, item="vm1", point_id="p1", snapshot=second_snap, time=T0 + timedelta(days=1), base=first
    )
    return (first, first_snap), (second, second_snap)


def test_it_copies_a_point_whole_and_the_copy_restores_byte_identically(store, secondary, make_disk, snapper, tmp_path):
    (first, first_snap), _ = _two_points(store, make_disk, snapper)
    result = replicate_point(store, secondary, "p0")
    assert (result.chunks_copied, result.chunks_present, result.already_there) == (3, 0, False)
    assert result.bytes_copied == secondary.stats().stored_bytes > 0
    assert [m.point_id for m in secondary.list_manifests()] == ["p0"]
    assert verify(secondary).ok
    _lose(store)  # the primary is lost: the copy alone restores
    restore_point(secondary, "p0", {"os": tmp_path / "out.img"})
    assert filecmp.cmp(first_snap.disk("os").path, tmp_path / "out.img", shallow=False)


def test_an_incremental_copies_only_its_new_chunks(store, secondary, make_disk, snapper):
    _two_points(store, make_disk, snapper)
    replicate_point(store, secondary, "p0")
    result = replicate_point(store, secondary, "p1")
    assert (result.chunks_copied, result.chunks_present) == (1, 3)
    assert secondary.stats().chunk_count == store.stats().chunk_count == 4


def test_it_is_idempotent(store, secondary, make_disk, snapper):
    _two_points(store, make_disk, snapper)
    replicate_point(store, secondary, "p0")
    again = replicate_point(store, secondary, "p0")
    assert (again.chunks_copied, again.bytes_copied, again.already_there) == (0, 0, True)
    assert len(secondary.list_manifests()) == 1


def test_it_lists_the_points_the_copy_lacks_oldest_first(store, secondary, make_disk, snapper):
    _two_points(store, make_disk, snapper)
    assert missing_points(store, secondary) == ["p0", "p1"]
    replicate_point(store, secondary, "p0")
    assert missing_points(store, secondary) == ["p1"]


def test_a_corrupt_chunk_is_never_copied_and_no_manifest_is_committed(store, secondary, make_disk, snapper):
    (first, _), _ = _two_points(store, make_disk, snapper)
    victim = first.disks[0].chunks[1]
    write_raw_chunk(store, victim, raw_chunk(store, victim)[:-10] + b"x" * 10)
    with pytest.raises(CorruptChunk):
        replicate_point(store, secondary, "p0")
    assert not secondary.has_manifest("p0")
    assert not secondary.has_chunk(victim)


def test_a_point_deleted_on_the_primary_stays_on_the_copy_through_gc(store, secondary, make_disk, snapper, tmp_path):
    (first, first_snap), _ = _two_points(store, make_disk, snapper)
    replicate_point(store, secondary, "p0")
    store.delete_manifest("p0")
    collect_garbage(store, grace=timedelta(0))
    collect_garbage(secondary, grace=timedelta(0))
    restore_point(secondary, "p0", {"os": tmp_path / "out.img"})
    assert filecmp.cmp(first_snap.disk("os").path, tmp_path / "out.img", shallow=False)


@pytest.mark.fs_only  # a folder primary (under s3, `store` would be that same bucket)
def test_a_bucket_can_be_the_copy(store, s3_store, make_disk, snapper, tmp_path):
    (first, first_snap), _ = _two_points(store, make_disk, snapper)
    assert replicate_point(store, s3_store, "p0").chunks_copied == 3
    assert replicate_point(store, s3_store, "p1").chunks_copied == 1
    assert missing_points(store, s3_store) == [] and not s3_store.lease_book().leases()
    collect_garbage(s3_store, grace=timedelta(0))
    restore_point(s3_store, "p0", {"os": tmp_path / "out.img"})
    assert filecmp.cmp(first_snap.disk("os").path, tmp_path / "out.img", shallow=False)
