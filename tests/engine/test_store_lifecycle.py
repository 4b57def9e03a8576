"""Making, probing and destroying stores through locations.py, on both backends: a store made again where one was
destroyed shares nothing with it, even its local cache folder."""

from __future__ import annotations

import filecmp
from datetime import UTC, datetime

import pytest
from conftest import CS, chunk_hashes, fill

from backup.engine import (
    NotAStore,
    StoreUnavailable,
    backup_snapshot,
    destroy_store,
    init_store,
    open_store,
    probe_location,
    restore_point,
    verify,
)
from tests.s3server import free_port

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _where(request, tmp_path) -> tuple[str, dict | None]:
    if request.param == "fs":
        return str(tmp_path / "store"), None
    server = request.getfixturevalue("s3_server")
    return f"s3://{server.new_bucket()}/portal/vault-1", server.options(tmp_path / "cache")


@pytest.fixture(params=["fs", "s3"])
def where(request, tmp_path):
    return _where(request, tmp_path)


def test_a_store_made_again_where_one_was_destroyed_holds_its_own_chunks(where, make_disk, snapper, tmp_path):
    location, options = where
    disk = make_disk("vm1", 3 * CS)
    fill(disk, 0, 3 * CS, seed=5)
    first = init_store(location, options)
    backup_snapshot(first, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    destroy_store(location, options)
    with pytest.raises(NotAStore):
        open_store(location, options)
    destroy_store(location, options)  # nothing there: no error

    again = init_store(location, options)
    snap = snapper({"os": disk})
    m = backup_snapshot(again, item="vm1", point_id="p2", snapshot=snap, time=T0, base=None)
    assert m.bytes_transferred > 0 and len(chunk_hashes(again)) == 3
    assert verify(again).ok
    restore_point(again, "p2", {"os": tmp_path / "out.img"})
    assert filecmp.cmp(snap.disk("os").path, tmp_path / "out.img", shallow=False)


def test_a_bucket_is_probed_for_existence_and_reachability(s3_server, tmp_path):
    options = s3_server.options(tmp_path / "cache")
    probe_location(f"s3://{s3_server.new_bucket()}/portal", options)
    with pytest.raises(NotAStore, match="does not exist"):
        probe_location("s3://no-such-bucket/portal", options)
    with pytest.raises(StoreUnavailable, match="cannot be reached") as info:
        probe_location("s3://any/portal", dict(options, endpoint_url=f"http://127.0.0.1:{free_port()}"))
    assert "test-secret" not in str(info.value)


def test_a_cache_folder_left_by_an_earlier_store_never_vouches_for_chunks(s3_server, make_disk, snapper, tmp_path):
    """The earlier store's objects went outside the engine (a bucket emptied by hand), its cache stayed."""
    location, options = f"s3://{s3_server.new_bucket()}/vault-1", s3_server.options(tmp_path / "cache")
    disk = make_disk("vm1", 2 * CS)
    fill(disk, 0, 2 * CS, seed=6)
    first = init_store(location, options)
    backup_snapshot(first, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    client = s3_server.client()
    for entry in client.list_objects_v2(Bucket=first.where.bucket)["Contents"]:
        client.delete_object(Bucket=first.where.bucket, Key=entry["Key"])

    again = init_store(location, options)
    m = backup_snapshot(again, item="vm1", point_id="p2", snapshot=snapper({"os": disk}), time=T0, base=None)
    assert m.bytes_transferred > 0 and len(chunk_hashes(again)) == 2 and verify(again).ok
