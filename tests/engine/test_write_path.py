"""The chunk write path: batched durability, no compression of data that does not compress."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from conftest import CS

from backup.engine import backup as engine_backup
from backup.engine import backup_snapshot, fsutil, restore_point
from backup.engine.chunkformat import RAW, ZSTD

T0 = datetime(2025, 1, 1, tzinfo=UTC)
# The folder store's write path: temporary files, batched fsync, renames.
pytestmark = pytest.mark.fs_only


def _files(store):
    return [(entry.name, open(entry.path, "rb").read(1)) for entry in store.iter_chunk_files()]


def _dot_files(store):
    return [e.name for d in store.chunks_dir.iterdir() for e in os.scandir(d) if e.name.startswith(".")]


def test_same_data_twice_in_one_batch_is_written_once(store, make_disk, snapper, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_backup, "FLUSH_BYTES", 64 * CS)  # one batch for the whole disk
    monkeypatch.setattr(fsutil, "SYNCFS_MIN_BYTES", 0)  # made durable by syncfs, as big batches are
    disk = make_disk("vm1", 8 * CS)
    block = os.urandom(CS)
    for i in (0, 2, 5):
        disk.write(i * CS, block)
    m = backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    assert len(set(m.disks[0].chunks) - {None}) == 1
    assert m.stored_bytes_new == CS + 1  # one raw file: header byte + data
    assert len(_files(store)) == 1 and _dot_files(store) == []
    restore_point(store, "p1", {"os": tmp_path / "r.img"})
    assert (tmp_path / "r.img").read_bytes()[5 * CS : 6 * CS] == block


def test_random_data_is_stored_raw_and_text_compressed(store, make_disk, snapper, tmp_path):
    disk = make_disk("vm1", 3 * CS)
    random_block = os.urandom(CS)
    half = os.urandom(CS // 2) + (b"user=alice event=login status=ok " * CS)[: CS // 2]
    disk.write(0, random_block)
    disk.write(CS, half)
    m = backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    headers = dict(_files(store))
    assert headers[m.disks[0].chunks[0]] == RAW
    assert headers[m.disks[0].chunks[1]] == ZSTD
    restore_point(store, "p1", {"os": tmp_path / "r.img"})
    assert (tmp_path / "r.img").read_bytes()[: 2 * CS] == random_block + half


def test_flushes_during_the_backup_publish_every_chunk(store, make_disk, snapper, monkeypatch):
    monkeypatch.setattr(engine_backup, "FLUSH_BYTES", 1)  # a batch per chunk
    disk = make_disk("vm1", 12 * CS)
    for i in range(12):
        disk.write(i * CS, os.urandom(CS))
    m = backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    assert {name for name, _ in _files(store)} == set(m.disks[0].chunks)
    assert _dot_files(store) == []
