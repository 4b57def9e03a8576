"""What only an object-storage store has: the lease/lock exclusion of GC and backups, its cache, its errors.
(Everything else runs against both backends through the parametrized `store` fixture.)"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CS, chunk_hashes, fill, raw_chunk, write_raw_chunk

from backup.engine import (
    Cancelled,
    EngineError,
    NotAStore,
    S3Store,
    StoreUnavailable,
    backup_snapshot,
    collect_garbage,
    delete_item,
    init_store,
    open_store,
    restore_point,
    s3leases,
    verify,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
FUTURE = timedelta(days=1)


def _requests(store: S3Store) -> dict[str, int]:
    """Count the store's requests per operation from now on: the client's and the lean chunk GETs'."""
    counts: dict[str, int] = {}

    def count(model, **_):
        counts[model.name] = counts.get(model.name, 0) + 1

    store.client.meta.events.register("before-call.s3", count)
    getter = store.objects.getter
    assert getter is not None  # a path-style endpoint: chunks are read by the lean GET
    lean_get = getter.get

    def counted_get(key: str):
        counts["GetObject"] = counts.get("GetObject", 0) + 1
        return lean_get(key)

    getter.get = counted_get
    return counts


def _put_foreign_object(store: S3Store, name: str, doc: dict) -> None:
    store.client.put_object(Bucket=store.where.bucket, Key=store.where.key(name), Body=json.dumps(doc).encode())


def test_gc_is_postponed_while_a_backup_runs_and_frees_old_chunks_after(s3_store, make_disk, snapper, tmp_path):
    store = s3_store
    old = make_disk("old", 4 * CS)
    fill(old, 0, 3 * CS, seed=1)
    backup_snapshot(store, item="old", point_id="old1", snapshot=snapper({"os": old}), time=T0, base=None)
    shared = store.load_manifest("old1").disks[0].chunks[0]
    delete_item(store, "old")

    new = make_disk("new", 6 * CS)
    new.write(0, old.path.read_bytes()[:CS])  # deduplicates onto an unreferenced old chunk
    fill(new, CS, 4 * CS, seed=9)
    snap = snapper({"os": new})
    gate, release = threading.Event(), threading.Event()

    def slow(done: int, total: int) -> None:
        if done >= 2 * CS:
            gate.set()
            release.wait(20)

    result = {}
    t = threading.Thread(
        target=lambda: result.update(
            m=backup_snapshot(store, item="new", point_id="new1", snapshot=snap, time=T0, base=None, progress=slow)
        )
    )
    t.start()
    assert gate.wait(20)
    during = collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + FUTURE)
    release.set()
    t.join(20)
    assert during.postponed and during.chunks_removed == 0
    assert shared in result["m"].disks[0].chunks
    after = collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + FUTURE)
    assert not after.postponed and after.chunks_removed == 2  # the two old chunks nobody uses any more
    assert verify(store).ok
    restore_point(store, "new1", {"os": tmp_path / "n.img"})
    assert (tmp_path / "n.img").read_bytes() == snap.disk("os").content()
    assert not store.lease_book().leases()


def test_a_backup_waits_for_a_running_gc(s3_store, make_disk, snapper, monkeypatch):
    monkeypatch.setattr(s3leases, "GC_WAIT_POLL_S", 0.1)
    disk = make_disk("vm1", 2 * CS)
    fill(disk, 0, CS, seed=1)
    lock = s3_store.lease_book().take_gc_lock()
    s3_store.gc_wait_s = 0.5
    with pytest.raises(EngineError, match="garbage collection is running"):
        backup_snapshot(s3_store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    assert not s3_store.lease_book().leases()  # it withdrew its lease
    s3_store.gc_wait_s = 30
    threading.Timer(0.5, lock.release).start()
    m = backup_snapshot(s3_store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    assert s3_store.has_manifest(m.point_id) and verify(s3_store).ok


def test_backups_and_gcs_running_together_never_lose_a_referenced_chunk(s3_store, make_disk, snapper, monkeypatch):
    """GC with no grace at all, in a loop, beside backups and deletes: only the lease/lock exclusion protects."""
    monkeypatch.setattr(s3leases, "GC_WAIT_POLL_S", 0.05)
    store = s3_store
    rng = random.Random(7)
    disks = [make_disk(f"vm{i}", 4 * CS) for i in range(2)]
    for i, d in enumerate(disks):
        fill(d, 0, 4 * CS, seed=i)
    snaps = [snapper({"os": d}) for d in disks]  # taken up front: the snapper is not thread-safe
    stop = threading.Event()
    errors: list[BaseException] = []
    reports = []

    def gc_loop() -> None:
        while not stop.is_set():
            try:
                reports.append(collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + FUTURE))
            except EngineError as exc:
                errors.append(exc)

    gc = threading.Thread(target=gc_loop)
    gc.start()
    try:
        for n in range(8):
            i = rng.randrange(2)
            backup_snapshot(store, item=f"vm{i}", point_id=f"p{n}", snapshot=snaps[i], time=T0, base=None)
            if n % 3 == 2:
                delete_item(store, f"vm{1 - i}")
            assert verify(store).ok  # every point's chunks are there, whatever GC did meanwhile
    finally:
        stop.set()
        gc.join(30)
    assert not errors
    assert any(r.postponed for r in reports) or any(r.chunks_removed for r in reports)
    final = collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + FUTURE)
    assert not final.postponed and verify(store).ok
    assert set(chunk_hashes(store)) == {h for m in store.list_manifests() for h in m.chunk_hashes()}


def test_stale_leases_and_locks_are_ignored_and_removed(s3_store):
    dead = {"pid": 999999999, "host": socket.gethostname(), "start": time.time(), "purpose": "killed backup"}
    _put_foreign_object(s3_store, "leases/deadbeef.lease", dead)
    _put_foreign_object(s3_store, "gc.lock", dead)  # a GC that was killed
    elsewhere = dict(dead, host="another-host", pid=os.getpid())
    _put_foreign_object(s3_store, "leases/cafe.lease", elsewhere)
    book = s3_store.lease_book()
    assert [lease.key.rsplit("/", 1)[-1] for lease in book.live_leases()] == ["cafe.lease"]
    assert collect_garbage(s3_store).postponed  # a live lease of another host
    assert not book.live_leases(now=time.time() + 3600)  # ...until it misses its heartbeats
    time.sleep(1.1)  # the server's clock (Date, LastModified) counts whole seconds
    report = collect_garbage(s3_store, lease_timeout_s=0)
    assert not report.postponed and not book.leases() and book.gc_lock() is None


def test_a_live_gc_lock_refuses_a_second_gc(s3_store):
    held = s3_store.lease_book().take_gc_lock()
    try:
        with pytest.raises(EngineError, match="another garbage collection is running"):
            collect_garbage(s3_store)
    finally:
        held.release()
    assert not collect_garbage(s3_store).postponed


def test_a_cancelled_backup_removes_its_chunks_unless_another_backup_runs(s3_store, make_disk, snapper):
    store = s3_store
    disk = make_disk("vm1", 6 * CS)
    fill(disk, 0, 6 * CS, seed=3)
    snap = snapper({"os": disk})

    def cancel_late() -> bool:
        return len(chunk_hashes(store)) >= 3

    with pytest.raises(Cancelled):
        backup_snapshot(store, item="vm1", point_id="p1", snapshot=snap, time=T0, base=None, cancel=cancel_late)
    assert chunk_hashes(store) == [] and not store.lease_book().leases()

    # Another backup runs: it may have deduplicated onto them, so they stay, for GC.
    with store.lease("another backup"), pytest.raises(Cancelled):
        backup_snapshot(store, item="vm1", point_id="p1", snapshot=snap, time=T0, base=None, cancel=cancel_late)
    assert len(chunk_hashes(store)) >= 3
    assert collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + FUTURE).chunks_removed >= 3


def test_restore_and_incremental_use_the_local_cache(s3_server, make_disk, snapper, tmp_path):
    location = f"s3://{s3_server.new_bucket()}/a/b"
    options = s3_server.options(tmp_path / "cache")
    store = init_store(location, options)
    disk = make_disk("vm1", 8 * CS)
    fill(disk, 0, 8 * CS, seed=1)
    m1 = backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    restore_point(store, "p1", {"os": tmp_path / "r1.img"})
    store.cache.drain()  # chunks are cached by a thread of their own

    again = open_store(location, options)  # another process, same cache folder
    assert isinstance(again, S3Store)
    counts = _requests(again)
    restore_point(again, "p1", {"os": tmp_path / "r2.img"})
    assert counts.get("GetObject", 0) == 0  # neither the manifest nor a chunk fetched again
    assert (tmp_path / "r2.img").read_bytes() == disk.path.read_bytes()

    fill(disk, 0, 100, seed=2)
    counts.clear()
    backup_snapshot(again, item="vm1", point_id="p2", snapshot=snapper({"os": disk}), time=T0, base=m1)
    # A full compare (no change tracking between the snapshots here) dedups 7 of 8 chunks by the index.
    assert counts.get("HeadObject", 0) <= 2 and counts.get("PutObject", 0) <= 1 + 1 + 2  # chunk, manifest, lease
    assert counts.get("ListObjectsV2", 0) == 0

    # GC writes a new generation: the index is rebuilt by listing, not trusted.
    write_raw_chunk(again, m1.disks[0].chunks[7], raw_chunk(again, m1.disks[0].chunks[7]))
    collect_garbage(again)
    counts.clear()
    backup_snapshot(again, item="vm1", point_id="p3", snapshot=snapper({"os": disk}), time=T0, base=None)
    assert counts.get("ListObjectsV2", 0) >= 1 and verify(again).ok


def test_a_restore_bigger_than_half_the_chunk_cache_leaves_the_cache_alone(s3_server, make_disk, snapper, tmp_path):
    location = f"s3://{s3_server.new_bucket()}/big"
    options = s3_server.options(tmp_path / "cache")
    store = init_store(location, options)
    disk = make_disk("vm1", 4 * CS)
    fill(disk, 0, 4 * CS, seed=3)
    backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    small = open_store(location, dict(options, cache_dir=str(tmp_path / "small")))
    big = open_store(location, dict(options, cache_dir=str(tmp_path / "big")))
    assert isinstance(small, S3Store) and isinstance(big, S3Store)
    big.cache.chunk_bytes = 7 * CS  # the point's 4 chunks are more than half of it
    for reader, target in ((small, "s.img"), (big, "b.img")):
        restore_point(reader, "p1", {"os": tmp_path / target})
        reader.cache.drain()
        assert (tmp_path / target).read_bytes() == disk.path.read_bytes()
    assert len(list((tmp_path / "small" / "chunks").iterdir())) == 4
    assert list((tmp_path / "big" / "chunks").iterdir()) == []
    counts = _requests(big)
    restore_point(big, "p1", {"os": tmp_path / "b2.img"})
    assert counts["GetObject"] == 4  # read from the bucket again, as the cache was never filled


def test_a_late_quarantine_leaves_a_rewritten_chunk_alone(s3_store, make_disk, snapper):
    disk = make_disk("vm1", 2 * CS)
    fill(disk, 0, CS, seed=1)
    m = backup_snapshot(s3_store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    victim = m.disks[0].chunks[0]
    good = raw_chunk(s3_store, victim)
    write_raw_chunk(s3_store, victim, good[:-1] + bytes([good[-1] ^ 1]))
    rotten_etag = s3_store.client.head_object(
        Bucket=s3_store.where.bucket, Key=s3_store.where.key(s3_store.chunk_name(victim))
    )["ETag"]
    write_raw_chunk(s3_store, victim, good)  # a backup rewrote it meanwhile
    assert s3_store.quarantine_chunk(victim, etag=rotten_etag) is None
    assert s3_store.has_chunk(victim) and s3_store.quarantined(victim) == [] and verify(s3_store).ok


def test_location_errors_are_clear_and_name_no_secret(s3_server, tmp_path, monkeypatch):
    options = s3_server.options(tmp_path / "cache")
    with pytest.raises(NotAStore, match="bucket .* does not exist"):
        init_store("s3://no-such-bucket/x", options)
    bucket = s3_server.new_bucket()
    with pytest.raises(NotAStore, match="not a vault store"):
        open_store(f"s3://{bucket}/empty", options)
    s3_server.client().put_object(Bucket=bucket, Key="foreign/data.bin", Body=b"x")
    with pytest.raises(NotAStore, match="not empty"):
        init_store(f"s3://{bucket}/foreign", options)
    with pytest.raises(StoreUnavailable, match="cannot be reached") as unreachable:
        open_store(f"s3://{bucket}/x", dict(options, endpoint_url="http://127.0.0.1:9"))
    assert "test-secret" not in str(unreachable.value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bare = {k: v for k, v in options.items() if k not in {"access_key_id", "secret_access_key"}}
    with pytest.raises(StoreUnavailable, match="no credentials"):
        open_store(f"s3://{bucket}/x", bare)
    with pytest.raises(ValueError, match="unknown object storage options"):
        open_store(f"s3://{bucket}/x", dict(options, password="x"))


def test_credentials_and_endpoint_fall_back_to_the_environment(s3_server, tmp_path, monkeypatch):
    bucket = s3_server.new_bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    store = init_store(f"s3://{bucket}/env", {"path_style": True, "cache_dir": str(tmp_path / "c")})
    assert isinstance(store, S3Store) and store.list_manifests() == []
    assert isinstance(open_store(f"s3://{bucket}/env", {"path_style": True}), S3Store)


def test_a_failed_backup_keeps_a_chunk_a_finished_backup_shares(s3_store, make_disk, snapper):
    """Both PUT the same chunk (neither knew the other's); the one that fails must not take it away."""
    store = s3_store
    disk = make_disk("vm1", 6 * CS)
    fill(disk, 0, 6 * CS, seed=4)
    snap = snapper({"os": disk})
    other = make_disk("vm2", 2 * CS)
    other.write(0, disk.path.read_bytes()[:CS])
    calls = {"n": 0}

    def finish_another_backup_then_cancel() -> bool:
        calls["n"] += 1
        if calls["n"] == 3:
            backup_snapshot(store, item="vm2", point_id="q1", snapshot=snapper({"os": other}), time=T0, base=None)
        return calls["n"] >= 3

    with pytest.raises(Cancelled):
        backup_snapshot(
            store,
            item="vm1",
            point_id="p1",
            snapshot=snap,
            time=T0,
            base=None,
            cancel=finish_another_backup_then_cancel,
        )
    assert set(chunk_hashes(store)) == store.load_manifest("q1").chunk_hashes() and verify(store).ok


def test_the_manifest_cache_forgets_pruned_points(s3_store, make_disk, snapper):
    disk = make_disk("vm1", 2 * CS)
    fill(disk, 0, CS, seed=1)
    for pid in ("p1", "p2"):
        backup_snapshot(s3_store, item="vm1", point_id=pid, snapshot=snapper({"os": disk}), time=T0, base=None)
    assert len(s3_store.list_manifests()) == 2
    delete_item(s3_store, "vm1")
    assert s3_store.list_manifests() == []
    assert not list((s3_store.cache.root / "manifests").glob("*.json"))


def test_lease_ages_are_measured_by_the_servers_clock(s3_store, monkeypatch):
    """A local clock an hour fast must not make another host's fresh lease look stale to GC."""
    fresh = {"pid": 1, "host": "another-host", "start": time.time(), "purpose": "backup elsewhere"}
    _put_foreign_object(s3_store, "leases/feed.lease", fresh)

    real_time, real_sleep = time.time, time.sleep

    class FastClock:
        @staticmethod
        def time() -> float:
            return real_time() + 3600

        sleep = staticmethod(real_sleep)

    monkeypatch.setattr(s3leases, "time", FastClock)
    assert collect_garbage(s3_store).postponed
