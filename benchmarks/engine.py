"""Benchmark of the backup engine against the local ceiling, restic and borg.

Run from the repo root:  .venv/bin/python benchmarks/engine.py [--size-gib 4 --data-gib 2]

Builds a sparse disk image through the fabric (mix of incompressible and
compressible 4 MiB blocks with holes between them), then measures a full
backup, a restore, a 1% incremental and its copy to a secondary store
(replication_lag_s), a clone backup (dedup), and the same full + incremental
+ restore with restic and borg (each from a cold cache, each restore compared
byte for byte). Prints one `name: value` per line.
Not a test: it takes a minute or two and ~12 GiB of temporary space at the
default size.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from backup.engine import Store, backup_snapshot, replicate_point, restore_point  # noqa: E402
from backup.fabric.disks import Disk  # noqa: E402
from backup.fabric.snapshots import take_snapshot  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
BLOCK = 4 * MiB


def out(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def drop_cache(path: Path) -> str:
    """Evict `path` from the page cache so the next read is cold."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            os.sync()
            fh.write("3\n")
        return "drop_caches"
    except OSError:
        pass
    # Fallback without privileges: per-file eviction (clean pages only, hence the fsync).
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return "fadvise_dontneed (no permission for /proc/sys/vm/drop_caches)"


def block_content(rng: random.Random, index: int, compressible: bool) -> bytes:
    if not compressible:
        return os.urandom(BLOCK)
    # Half random, half text-like: compresses ~2x, unique per block (no accidental dedup).
    words = [f"{index:08d} user{rng.randrange(10**6)} event=login status=ok ".encode() for _ in range(64)]
    text = b"".join(words)
    half = (text * (BLOCK // 2 // len(text) + 1))[: BLOCK // 2]
    return os.urandom(BLOCK // 2) + half


def build_image(path: Path, size: int, data: int, rng: random.Random) -> tuple[Disk, list[int]]:
    disk = Disk.create(path, size)
    nblocks = size // BLOCK
    ndata = min(nblocks, data // BLOCK)
    positions = sorted(rng.sample(range(nblocks), ndata))
    for n, b in enumerate(positions):
        disk.write(b * BLOCK, block_content(rng, b, compressible=n % 2 == 1))
    return disk, positions


def raw_read(path: Path, ranges: list[tuple[int, int]]) -> float:
    fd = os.open(path, os.O_RDONLY)
    buf = bytearray(8 * MiB)
    t = time.perf_counter()
    try:
        for off, length in ranges:
            pos = off
            while pos < off + length:
                n = os.preadv(fd, [memoryview(buf)[: min(len(buf), off + length - pos)]], pos)
                if n <= 0:
                    break
                pos += n
    finally:
        os.close(fd)
    return time.perf_counter() - t


def files_identical(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(16 * MiB), fb.read(16 * MiB)
            if x != y:
                return False
            if not x:
                return True


def ensure_tools() -> str | None:
    if shutil.which("restic") and shutil.which("borg"):
        return None
    if shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "restic", "borgbackup"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    missing = [t for t in ("restic", "borg") if not shutil.which(t)]
    return f"missing {', '.join(missing)} (apt-get install -y restic borgbackup failed)" if missing else None


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(
        cmd, env={**os.environ, **env}, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gib", type=float, default=4.0)
    ap.add_argument("--data-gib", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--tmp", default=None, help="scratch folder (default: system temp)")
    ap.add_argument("--skip-others", action="store_true", help="do not run restic/borg")
    args = ap.parse_args()
    size = int(args.size_gib * GiB) // BLOCK * BLOCK
    data = int(args.data_gib * GiB) // BLOCK * BLOCK
    rng = random.Random(42)
    work = Path(tempfile.mkdtemp(prefix="engine-bench-", dir=args.tmp))
    try:
        out("date", datetime.now(UTC).isoformat(timespec="seconds"))
        uname = os.uname()
        out("machine", f"{os.cpu_count()} cpus, {uname.sysname} {uname.release}, python {sys.version.split()[0]}")
        out("image", f"{size / GiB:.2f} GiB max, {data / GiB:.2f} GiB data, workers={args.workers}")
        disk, positions = build_image(work / "vm1" / "os.img", size, data, rng)
        actual = disk.allocated_bytes()
        out("actual_data_mib", round(actual / MiB, 1))

        out("cache", drop_cache(disk.path))
        t_raw = raw_read(disk.path, disk.data_ranges())
        out("raw_read_mib_s", round(actual / MiB / t_raw, 1))

        store = Store.init(work / "store")
        drop_cache(disk.path)
        t = time.perf_counter()
        snap = take_snapshot({"os": disk}, consistency="crash")
        full = backup_snapshot(
            store, item="vm1", point_id="full", snapshot=snap, time=datetime.now(UTC), base=None, workers=args.workers
        )
        t_full = time.perf_counter() - t
        snap.delete()
        out("full_backup_s", round(t_full, 2))
        out("full_backup_mib_s", round(actual / MiB / t_full, 1))
        out("full_stored_mib", round(full.stored_bytes_new / MiB, 1))

        target = work / "restore" / "os.img"
        target.parent.mkdir()
        drop_cache(disk.path)
        t = time.perf_counter()
        restore_point(store, "full", {"os": target}, workers=args.workers)
        t_restore = time.perf_counter() - t
        out("restore_mib_s", round(actual / MiB / t_restore, 1))
        out("restore_vs_full", round(t_full / t_restore, 2))
        identical = files_identical(disk.path, target)
        restored_alloc = Disk.actual_size_of(target)
        target.unlink()

        others = None if args.skip_others else ensure_tools()
        restic_env = {
            "RESTIC_PASSWORD": "bench",
            "RESTIC_REPOSITORY": str(work / "restic"),
            "RESTIC_CACHE_DIR": str(work / "restic-cache"),
        }
        borg_env = {
            "BORG_BASE_DIR": str(work / "borg-home"),
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        }
        theirs: dict[str, float] = {}
        if not args.skip_others and others is None:
            timed(["restic", "init"], restic_env)
            drop_cache(disk.path)
            theirs["restic_full"] = timed(["restic", "backup", "--host", "bench", str(disk.path)], restic_env)
            timed(["borg", "init", "-e", "none", str(work / "borg")], borg_env)
            drop_cache(disk.path)
            theirs["borg_full"] = timed(["borg", "create", f"{work / 'borg'}::full", str(disk.path)], borg_env)
            # Their restores of the same image (still unchanged since the full backups), from a cold cache.
            for tool, cmd, env in (
                ("restic", ["restic", "restore", "latest", "--host", "bench", "--target", "."], restic_env),
                ("borg", ["borg", "extract", "--sparse", f"{work / 'borg'}::full"], borg_env),
            ):
                into = work / f"{tool}-restore"
                into.mkdir()
                drop_cache(disk.path)
                theirs[f"{tool}_restore"] = timed(cmd, env, cwd=into)
                restored = into / str(disk.path).lstrip("/")
                if not files_identical(disk.path, restored):
                    raise SystemExit(f"{tool} restored different bytes")
                shutil.rmtree(into)

        # 1% of the data blocks rewritten through the fabric (tracked writes).
        changed = rng.sample(positions, max(1, round(len(positions) / 100)))
        for b in changed:
            disk.write(b * BLOCK, os.urandom(BLOCK))
        drop_cache(disk.path)
        t = time.perf_counter()
        snap = take_snapshot({"os": disk}, consistency="crash")
        inc = backup_snapshot(
            store, item="vm1", point_id="inc", snapshot=snap, time=datetime.now(UTC), base=full, workers=args.workers
        )
        t_inc = time.perf_counter() - t
        snap.delete()
        out("incremental_blocks_written", len(changed))
        out("incremental_s", round(t_inc, 3))
        out("incremental_bytes_read_ratio", round(inc.bytes_read / actual, 4))
        out("incremental_vs_full", round(t_inc / t_full, 4))

        # Geo-redundancy: the full point copied to a secondary store, then the incremental (its copy is the
        # replication lag a Replicate job adds after the backup, without the job's queueing).
        secondary = Store.init(work / "secondary")
        t = time.perf_counter()
        replicate_point(store, secondary, "full")
        out("replicate_full_mib_s", round(full.stored_bytes_new / MiB / (time.perf_counter() - t), 1))
        t = time.perf_counter()
        copied = replicate_point(store, secondary, "inc")
        out("replication_lag_s", round(time.perf_counter() - t, 3))
        out("replication_incremental_chunks", copied.chunks_copied)
        shutil.rmtree(work / "secondary")

        clone = disk.clone_to(work / "vm2" / "os.img")
        snap = take_snapshot({"os": clone}, consistency="crash")
        m2 = backup_snapshot(
            store, item="vm2", point_id="clone", snapshot=snap, time=datetime.now(UTC), base=None, workers=args.workers
        )
        snap.delete()
        out("dedup_stored_ratio", round(m2.stored_bytes_new / actual, 4))

        if others is not None:
            out("restic_borg", f"skipped: {others}")
            for tool in ("restic", "borg"):
                why = f"{tool} not installed" if shutil.which(tool) is None else others
                out(f"{tool}_restore_vs_ours", f"skipped ({why})")
        elif not args.skip_others:
            drop_cache(disk.path)
            theirs["restic_inc"] = timed(["restic", "backup", "--host", "bench", str(disk.path)], restic_env)
            drop_cache(disk.path)
            theirs["borg_inc"] = timed(["borg", "create", f"{work / 'borg'}::inc", str(disk.path)], borg_env)
            for name, ours in (("full", t_full), ("inc", t_inc)):
                label = "full" if name == "full" else "incremental"
                out(f"restic_{label}_s", round(theirs[f"restic_{name}"], 2))
                out(f"borg_{label}_s", round(theirs[f"borg_{name}"], 2))
                out(f"restic_{label}_vs_ours", round(theirs[f"restic_{name}"] / ours, 1))
                out(f"borg_{label}_vs_ours", round(theirs[f"borg_{name}"] / ours, 1))
            for tool in ("restic", "borg"):
                out(f"{tool}_restore_mib_s", round(actual / MiB / theirs[f"{tool}_restore"], 1))
            for tool in ("restic", "borg"):
                out(f"{tool}_restore_vs_ours", round(theirs[f"{tool}_restore"] / t_restore, 1))

        out("restored_allocated_mib", round(restored_alloc / MiB, 1))
        out("peak_rss_mib", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
        out("restore_identical", "true" if identical else "false")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
