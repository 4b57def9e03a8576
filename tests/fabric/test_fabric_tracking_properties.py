"""Property: change tracking answers exactly like a naive model, through
compaction, for every id it still remembers - and None for the others."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup.fabric.disks import Disk
from backup.fabric.ranges import merge_ranges
from backup.fabric.snapshots import take_snapshot
from backup.fabric.tracking import ChangeLog

SIZE = 1 << 20
ROOT = Path(__file__).resolve().parents[2]

write = st.tuples(st.integers(0, SIZE - 1), st.integers(1, 5000)).map(lambda t: ("w", t[0], min(t[1], SIZE - t[0])))
ops = st.lists(st.one_of(write, st.just(("id", 0, 0)), st.just(("reset", 0, 0))), max_size=80)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, keep=st.integers(1, 4), compact_at=st.sampled_from([300, 1000, 1 << 20]))
def test_tracking_matches_model(ops: list[tuple[str, int, int]], keep: int, compact_at: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        disk = Disk.create(Path(tmp) / "d.vhd", SIZE)
        disk._log = ChangeLog(disk._log.path, keep_change_ids=keep, compact_at_bytes=compact_at)
        handed: list[tuple[str, list[tuple[int, int]], int]] = []  # id, writes since, epoch no.
        epoch = 0
        for kind, off, length in ops:
            if kind == "w":
                disk.write(off, b"x" * length)
                for _, since, _ in handed:
                    since.append((off, length))
            elif kind == "id":
                cid = disk.change_id()
                if not handed or handed[-1][0] != cid:
                    handed.append((cid, [], epoch))
            else:
                disk.reset_tracking()
                epoch += 1
        current = [h for h in handed if h[2] == epoch]
        distinct = list(dict.fromkeys(h[0] for h in current))
        for cid, since, ep in handed:
            answer = disk.changed_ranges_since(cid)
            if ep != epoch:
                assert answer is None
            elif cid in distinct[-keep:]:
                assert answer == merge_ranges(since)
            else:
                assert answer is None or answer == merge_ranges(since)
        if compact_at == 1 << 20:  # never compacted: every current id exact
            for cid, since, _ep in current:
                assert disk.changed_ranges_since(cid) == merge_ranges(since)


def test_cow_from_another_process_write(tmp_path: Path) -> None:
    disk = Disk.create(tmp_path / "d.vhd", 8 << 20)
    disk.write(0, b"old!" * 50_000)
    snap = take_snapshot({"os": disk}, "crash")
    code = (
        "import sys; from pathlib import Path; from backup.fabric.disks import Disk\n"
        "Disk.open(Path(sys.argv[1])).write(10, b'NEW' * 100_000)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(disk.path)], check=True, cwd=ROOT)
    assert disk.read(10, 3) == b"NEW"
    assert snap.disks[0].read(0, 200_000) == b"old!" * 50_000
    assert snap.disks[0].read(200_000, 300_000) == bytes(300_000)
    assert snap.disks[0].data_ranges() == [(0, 200_704)]
    snap.delete()


snap_ops = st.lists(
    st.one_of(
        write,
        st.just(("snap", 0, 0)),
        st.tuples(st.just("drop"), st.integers(0, 5), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=snap_ops)
def test_snapshots_match_model(ops: list[tuple[str, int, int]]) -> None:
    """Any interleaving of writes, snapshots and deletions: every live
    snapshot reads exactly the bytes of its instant, and its data ranges
    cover exactly what was data then (at 4 KiB file-system granularity)."""
    with tempfile.TemporaryDirectory() as tmp:
        disk = Disk.create(Path(tmp) / "d.vhd", SIZE)
        model = bytearray(SIZE)
        written: list[tuple[int, int]] = []
        live: list[tuple[object, bytes, list[tuple[int, int]]]] = []
        for i, (kind, off, length) in enumerate(ops):
            if kind == "w":
                data = bytes([i % 251 + 1]) * length
                disk.write(off, data)
                model[off : off + length] = data
                written.append((off, length))
            elif kind == "snap":
                live.append((take_snapshot({"os": disk}, "crash"), bytes(model), list(written)))
            elif live:
                snap = live.pop(off % len(live))[0]
                snap.delete()  # type: ignore[attr-defined]
        for snap, expected, then_written in live:
            sd = snap.disks[0]  # type: ignore[attr-defined]
            assert sd.read(0, SIZE) == expected
            pages = merge_ranges(
                (o // 4096 * 4096, (o + n + 4095) // 4096 * 4096 - o // 4096 * 4096) for o, n in then_written
            )
            assert sd.data_ranges() == pages
            snap.delete()  # type: ignore[attr-defined]
