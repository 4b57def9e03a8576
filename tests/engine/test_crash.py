from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import CS, chunk_hashes, fill, leftovers, store_location

from backup.engine import backup_snapshot, collect_garbage, restore_point, verify

CHILD = Path(__file__).with_name("crash_child.py")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _all_chunk_files_valid(store) -> int:
    n = 0
    for chunk_hash in chunk_hashes(store):
        store.read_chunk(chunk_hash, use_cache=False)  # raises on a half-written chunk
        n += 1
    return n


def _run_and_kill(store, image: Path, point_id: str, kill_after_progress: int) -> bool:
    """Start a backup in a child, SIGKILL it after N progress lines. True if it finished first."""
    location, options = store_location(store)
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), location, json.dumps(options), str(image), point_id, "0.03"],
        stdout=subprocess.PIPE,
        text=True,
    )
    seen = 0
    try:
        for line in proc.stdout:
            if line.startswith("progress"):
                seen += 1
                if seen > kill_after_progress:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            if line.startswith("done"):
                break
    finally:
        proc.wait(10)
        proc.stdout.close()
    return proc.returncode == 0


@pytest.mark.parametrize("kills", [[1, 3, 6, 9]])
def test_sigkill_at_several_points_leaves_usable_store(store, make_disk, snapper, tmp_path, kills):
    disk = make_disk("vm1", 16 * CS)
    for i in range(0, 12):
        fill(disk, i * CS, CS, seed=i, compressible=bool(i % 2))
    snap = snapper({"os": disk})
    image = snap.disk("os").path
    for n, k in enumerate(kills):
        finished = _run_and_kill(store, image, f"crash{n}", k)
        assert not finished
        assert not store.has_manifest(f"crash{n}")
        assert store.list_manifests() == []
        assert verify(store).ok
        # Every chunk file visible is complete (a raw or compressed whole whose hash matches). Chunks get
        # their names when their batch is flushed in the background, so how many a kill leaves depends on timing.
        _all_chunk_files_valid(store)
    # Let a child finish: the retry with the same point id returns it.
    assert _run_and_kill(store, image, "crash-final", 10_000)
    m = store.load_manifest("crash-final")
    again = backup_snapshot(store, item="vm1", point_id="crash-final", snapshot=snap, time=T0, base=None)
    assert again == m and snap.disk("os").bytes_read == 0
    # Next backup, verify and restore work without repair; GC cleans up.
    fill(disk, 0, 100, seed=77)
    snap2 = snapper({"os": disk})
    backup_snapshot(store, item="vm1", point_id="after", snapshot=snap2, time=T0, base=m)
    assert verify(store).ok
    restore_point(store, "after", {"os": tmp_path / "after.img"})
    assert filecmp.cmp(snap2.disk("os").path, tmp_path / "after.img", shallow=False)
    restore_point(store, "crash-final", {"os": tmp_path / "final.img"})
    assert filecmp.cmp(image, tmp_path / "final.img", shallow=False)
    report = collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + timedelta(seconds=2))
    assert not leftovers(store) and not report.postponed
    assert verify(store).ok
    referenced = {h for m in store.list_manifests() for h in m.chunk_hashes()}
    assert set(chunk_hashes(store)) == referenced  # the killed backups' unreferenced chunks are gone


@pytest.mark.fs_only  # a folder store's temporary file; an S3 PUT is atomic
def test_half_written_manifest_is_invisible_and_collected(store, make_disk, snapper):
    disk = make_disk("vm1", 2 * CS)
    fill(disk, 0, 100, seed=1)
    backup_snapshot(store, item="vm1", point_id="p1", snapshot=snapper({"os": disk}), time=T0, base=None)
    half = store.manifests_dir / ".tmp-p2.json-abc"  # what a SIGKILL mid-commit leaves
    half.write_bytes(b'{"format_version": 1, "point_id": "p2", "ite')
    assert [m.point_id for m in store.list_manifests()] == ["p1"]
    assert not store.has_manifest("p2")
    collect_garbage(store, grace=timedelta(0), now=datetime.now(UTC) + timedelta(seconds=2))
    assert not half.exists()
    assert verify(store).ok


def test_memory_is_bounded_by_in_flight_chunks(store, make_disk, snapper):
    """Reads started minus chunks completed never exceeds the in-flight bound."""
    from backup.engine.backup import IO_THREADS_PER_WORKER

    disk = make_disk("vm1", 40 * CS)
    for i in range(40):
        fill(disk, i * CS, 4096, seed=i)
    snap = snapper({"os": disk})
    sd = snap.disk("os")
    state = {"started": 0, "done": 0, "max": 0}
    real_read = sd.read

    def read(offset: int, length: int) -> bytes:
        state["started"] += 1
        state["max"] = max(state["max"], state["started"] - state["done"])
        return real_read(offset, length)

    sd.read = read

    def progress(done: int, total: int) -> None:
        state["done"] = done // CS

    backup_snapshot(store, item="vm1", point_id="p", snapshot=snap, time=T0, base=None, progress=progress, workers=1)
    assert state["started"] == 40
    assert state["max"] <= IO_THREADS_PER_WORKER + 2
