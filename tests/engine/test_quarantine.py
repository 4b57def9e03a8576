"""A chunk that rots is moved aside to `<hash>.N.bad` when a read finds it, kept through GC, and the next
backup holding that data rewrites it, which heals every point sharing it."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CS, bad_names, fill, raw_chunk, write_raw_chunk

from backup.engine import backup_snapshot, collect_garbage, restore_point, verify

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _flip(store, chunk_hash: str) -> bytes:
    raw = bytearray(raw_chunk(store, chunk_hash))
    raw[len(raw) // 2] ^= 0xFF
    write_raw_chunk(store, chunk_hash, bytes(raw))
    return bytes(raw)


def _read_bad(store, kept) -> bytes:
    if isinstance(kept, str):  # an S3 key
        return store.client.get_object(Bucket=store.where.bucket, Key=kept)["Body"].read()
    return kept.read_bytes()


def _backed_up(store, make_disk, snapper):
    disk = make_disk("vm1", 4 * CS)
    fill(disk, 0, 3 * CS, seed=1)
    m1 = backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    return disk, m1


def test_verify_moves_a_corrupt_chunk_aside_under_its_bad_name(store, make_disk, snapper):
    _, m1 = _backed_up(store, make_disk, snapper)
    victim = m1.disks[0].chunks[1]
    rotten = _flip(store, victim)

    report = verify(store)

    assert [p.chunk_hash for p in report.corrupt] == [victim]
    assert not store.has_chunk(victim)
    assert bad_names(store, victim) == [f"{victim}.0.bad"]
    (kept,) = store.quarantined(victim)
    assert _read_bad(store, kept) == rotten
    # Verified again: still corrupt (it is aside until a backup rewrites it), and the evidence is kept as is.
    again = verify(store)
    assert [(p.chunk_hash, p.detail) for p in again.corrupt] == [(victim, "quarantined")] and not again.missing
    assert bad_names(store, victim) == [f"{victim}.0.bad"]


def test_a_second_quarantine_of_the_same_hash_takes_the_next_number(store, make_disk, snapper, tmp_path):
    disk, m1 = _backed_up(store, make_disk, snapper)
    victim = m1.disks[0].chunks[0]
    _flip(store, victim)
    verify(store)
    backup_snapshot(store, item="vm1", point_id="p2", snapshot=snapper({"os": disk}), time=T0, base=m1)
    _flip(store, victim)
    restore = tmp_path / "r.img"
    try:
        restore_point(store, "p2", {"os": restore})
    except Exception as exc:  # the restore reads it, finds it corrupt, and moves it aside too
        assert "disk os" in str(exc)
    assert bad_names(store, victim) == [f"{victim}.0.bad", f"{victim}.1.bad"]


def test_gc_never_sweeps_a_quarantined_chunk(store, make_disk, snapper):
    _, m1 = _backed_up(store, make_disk, snapper)
    victim = m1.disks[0].chunks[2]
    _flip(store, victim)
    verify(store)
    store.delete_manifest("p1")

    collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + timedelta(days=1))

    assert len(store.quarantined(victim)) == 1
    assert store.stats().chunk_count == 0  # the other, unreferenced chunks went; .bad files are not chunks


def test_the_next_backup_rewrites_a_quarantined_chunk_and_heals_every_point(store, make_disk, snapper, tmp_path):
    disk, m1 = _backed_up(store, make_disk, snapper)
    other = make_disk("vm2", 4 * CS)
    other.write(0, disk.path.read_bytes()[: 3 * CS])  # a clone: every chunk dedups onto vm1's
    m_other = backup_snapshot(store, item="vm2", point_id="q1", snapshot=snapper({"os": other}), time=T0, base=None)
    assert m_other.disks[0].chunks == m1.disks[0].chunks
    victim = m1.disks[0].chunks[1]
    _flip(store, victim)
    assert not verify(store).ok

    # Nothing changed on vm1's disk: without the quarantine this backup would copy p1's reference unread.
    m2 = backup_snapshot(store, item="vm1", point_id="p2", snapshot=snapper({"os": disk}), time=T0, base=m1)

    assert m2.disks[0].chunks[1] == victim and m2.disks[0].bytes_read == CS
    assert verify(store).ok
    for point_id, source in (("p1", disk), ("q1", other), ("p2", disk)):
        target = tmp_path / f"{point_id}.img"
        restore_point(store, point_id, {"os": target})
        assert target.read_bytes() == source.path.read_bytes()


def test_a_wrong_length_in_a_manifest_does_not_quarantine_a_sound_chunk(store, make_disk, snapper):
    _, m1 = _backed_up(store, make_disk, snapper)
    sound = m1.disks[0].chunks[0]
    try:
        store.read_chunk(sound, expected_length=CS - 1)
    except Exception as exc:
        assert "length" in str(exc)
    assert store.has_chunk(sound) and store.quarantined(sound) == []


@pytest.mark.fs_only  # inodes; the S3 store deletes by ETag instead (test_s3store.py)
def test_a_reader_late_to_quarantine_leaves_the_rewritten_chunk_alone(store, make_disk, snapper):
    _, m1 = _backed_up(store, make_disk, snapper)
    victim = m1.disks[0].chunks[0]
    stale_inode = store.chunk_path(victim).stat().st_ino
    good = store.chunk_path(victim).read_bytes()
    store.quarantine_chunk(victim)  # another reader moved it aside...
    tmp = store.chunk_path(victim).with_name(".tmp-rewrite")
    tmp.write_bytes(good)
    tmp.rename(store.chunk_path(victim))  # ...and a backup wrote it again (a new file)

    assert store.quarantine_chunk(victim, inode=stale_inode) is None

    assert store.read_chunk(victim) and len(store.quarantined(victim)) == 1


@pytest.mark.fs_only  # hard links
def test_a_file_system_without_hard_links_still_quarantines_by_rename(store, make_disk, snapper, monkeypatch):
    _, m1 = _backed_up(store, make_disk, snapper)
    victim = m1.disks[0].chunks[0]

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    _flip(store, victim)
    assert not verify(store).ok
    assert [p.name for p in store.quarantined(victim)] == [f"{victim}.0.bad"]
    assert not store.chunk_path(victim).exists()
