"""Disks: sparse images, exact change tracking (also across processes), clones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from backup.fabric.disks import Disk, DiskError
from backup.fabric.tracking import ChangeLog

GiB = 1 << 30
MiB = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


def test_sparse_disk_allocates_only_written_data(tmp_path: Path) -> None:
    disk = Disk.create(tmp_path / "disk-1.vhd", 1023 * GiB)
    assert disk.size == 1023 * GiB
    assert disk.allocated_bytes() == 0
    chunk = b"x" * MiB
    for i in range(10):
        disk.write(i * 7 * MiB, chunk)  # ten scattered MiB
    assert 10 * MiB <= disk.allocated_bytes() <= 10 * MiB + 64 * 1024
    assert (tmp_path / "disk-1.vhd").stat().st_blocks * 512 < 12 * MiB
    assert Disk.actual_size_of(disk.path) == disk.allocated_bytes()
    ranges = disk.data_ranges()
    assert len(ranges) == 10 and ranges[0] == (0, MiB)


def test_read_write_roundtrip_and_bounds(tmp_path: Path) -> None:
    disk = Disk.create(tmp_path / "d.vhd", 8 * MiB)
    disk.write(100, b"hello")
    assert disk.read(98, 9) == b"\0\0hello\0\0"
    assert Disk.open(disk.path).read(100, 5) == b"hello"
    with pytest.raises(ValueError):
        disk.write(8 * MiB - 2, b"abc")
    with pytest.raises(ValueError):
        disk.read(-1, 2)
    with pytest.raises(FileExistsError):
        Disk.create(disk.path, MiB)
    with pytest.raises(DiskError):
        Disk.open(tmp_path / "missing.vhd")


def test_changed_ranges_are_exact_and_merged(tmp_path: Path) -> None:
    disk = Disk.create(tmp_path / "d.vhd", 1023 * GiB)
    cid0 = disk.change_id()
    assert disk.changed_ranges_since(cid0) == []
    disk.write(10, b"a" * 5)
    disk.write(15, b"b" * 5)  # adjacent: merged
    disk.write(1000, b"c")
    disk.write(500 * GiB, b"d" * 3)
    assert disk.changed_ranges_since(cid0) == [(10, 10), (1000, 1), (500 * GiB, 3)]
    cid1 = disk.change_id()
    assert disk.change_id() == cid1  # no write in between: same id
    disk.write(12, b"z" * 100)
    assert disk.changed_ranges_since(cid1) == [(12, 100)]
    assert disk.changed_ranges_since(cid0) == [(10, 102), (1000, 1), (500 * GiB, 3)]


def test_unknown_and_reset_ids_answer_none(tmp_path: Path) -> None:
    disk = Disk.create(tmp_path / "d.vhd", 16 * MiB)
    cid = disk.change_id()
    disk.write(0, b"x")
    epoch = cid.split(":")[0]
    assert disk.changed_ranges_since("garbage") is None
    assert disk.changed_ranges_since(f"{epoch}:999") is None  # from the future
    assert disk.changed_ranges_since(f"{epoch}:1") is None  # never handed out
    assert disk.changed_ranges_since("0" * 32 + ":0") is None  # other epoch
    disk.reset_tracking()
    assert disk.changed_ranges_since(cid) is None
    cid2 = disk.change_id()
    disk.write(5, b"y")
    assert disk.changed_ranges_since(cid2) == [(5, 1)]


def test_changes_from_another_process_are_tracked(tmp_path: Path) -> None:
    disk = Disk.create(tmp_path / "d.vhd", 64 * GiB)
    cid = disk.change_id()
    code = (
        "import sys; from pathlib import Path; from backup.fabric.disks import Disk\n"
        "d = Disk.open(Path(sys.argv[1]))\n"
        "d.write(4096, b'p' * 8192)\n"
        "d.write(40 * (1 << 30), b'q' * 7)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(disk.path)], check=True, cwd=ROOT)
    assert disk.changed_ranges_since(cid) == [(4096, 8192), (40 * GiB, 7)]
    assert disk.read(40 * GiB, 7) == b"q" * 7


def test_tracking_log_stays_bounded_and_exact(tmp_path: Path) -> None:
    image = tmp_path / "d.vhd"
    disk = Disk.create(image, 64 * MiB)
    disk._log = ChangeLog(disk._log.path, keep_change_ids=3, compact_at_bytes=2048)
    ids: list[str] = []
    expected: list[list[tuple[int, int]]] = []
    written: list[tuple[int, int]] = []
    for round_ in range(12):
        ids.append(disk.change_id())
        expected.append([])
        for k in range(20):
            off = (round_ * 20 + k) * 3000
            disk.write(off, b"w" * 1000)
            written.append((off, 1000))
        for e in expected:
            e.append(written[-20:])  # type: ignore[arg-type]
    assert disk._log.path.stat().st_size < 4096
    # The last three ids are still exact...
    for i in (9, 10, 11):
        want = sorted(r for batch in expected[i] for r in batch)
        assert disk.changed_ranges_since(ids[i]) == want
    # ...older ones were compacted away: caller must do a full read.
    assert disk.changed_ranges_since(ids[0]) is None


def test_clone_is_identical_with_holes(tmp_path: Path) -> None:
    disk = Disk.create(tmp_path / "src.vhd", 127 * GiB)
    disk.write(0, b"boot" * 1024)
    disk.write(3 * MiB, bytes(range(256)) * 4096)
    disk.write(100 * GiB, b"far away")
    cid = disk.change_id()
    clone = disk.clone_to(tmp_path / "copy" / "dst.vhd")
    assert clone.size == disk.size
    assert clone.data_ranges() == disk.data_ranges()
    for off, length in disk.data_ranges():
        assert clone.read(off, length) == disk.read(off, length)
    assert clone.changed_ranges_since(cid) is None  # fresh tracking
    assert clone.allocated_bytes() < 2 * MiB


def test_delete_removes_image_and_sidecars(tmp_path: Path) -> None:
    disk = Disk.create(tmp_path / "d.vhd", MiB)
    disk.write(0, b"x")
    disk.delete()
    assert list(tmp_path.iterdir()) == []
