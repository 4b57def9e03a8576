"""Benchmark of the engine's S3 store against a loopback S3 server, beside that server's own ceiling.

Run from the repo root:  .venv/bin/python benchmarks/objectstore.py [--data-mib 512 --workers 2]

Starts `moto_server` (pip install 'moto[server]') on a free loopback port, then measures in the same run:
the server's ceiling (plain parallel PUTs, then GETs, of 4 MiB objects from Python with boto3, as many threads
as the backup uses), a full backup, restores (through stores opened with empty caches, so every chunk is
fetched; five rounds, each right after a GET ceiling and the target's own write ceiling, the median ratios
printed), a 1% incremental, and the geo copy: the full point replicated to a store in a second bucket, then
the incremental's (`replication_lag_s`, the engine's copy without a job's dispatch). Prints one
`name: value` per line, like benchmarks/engine.py.
moto keeps every object in memory: keep --data-mib small.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from engine import BLOCK, MiB, build_image, files_identical, out  # noqa: E402

from backup.engine import (  # noqa: E402
    S3Store,
    backup_snapshot,
    fsutil,
    init_store,
    open_store,
    replicate_point,
    restore_point,
)
from backup.engine.backup import IO_THREADS_PER_WORKER  # noqa: E402
from backup.fabric.snapshots import take_snapshot  # noqa: E402
from tests.s3server import moto_server_exe  # noqa: E402

GiB = 1024 * MiB
ROUNDS = 5  # GET ceiling + restore pairs


def start_server() -> tuple[subprocess.Popen, str]:
    exe = moto_server_exe()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def counter(store: S3Store) -> Callable[[], dict[str, int]]:
    """Requests by operation from now on: boto3's, and the lean chunk reader's GETs (s3get.py) as GetObject."""
    counts: dict[str, int] = {}
    getter = store.objects.getter
    lean_before = getter.requests if getter else 0

    def count(model, **_):
        counts[model.name] = counts.get(model.name, 0) + 1

    def now() -> dict[str, int]:
        lean = getter.requests - lean_before if getter else 0
        return counts | {"GetObject": counts.get("GetObject", 0) + lean} if lean else dict(counts)

    store.client.meta.events.register("before-call.s3", count)
    return now


def put_ceiling(store: S3Store, nbytes: int, threads: int, size: int = BLOCK) -> tuple[float, list[str]]:
    """MiB/s of plain PUTs of distinct objects of `size` (4 MiB) with `threads` threads (the store's client); their
    keys."""
    n = max(threads, nbytes // size)
    bodies = [os.urandom(size) for _ in range(min(n, 16))]
    keys = [store.where.key(f"ceiling-{size}/{i}") for i in range(n)]
    bucket, client = store.where.bucket, store.client

    def put(i: int) -> None:
        client.put_object(Bucket=bucket, Key=keys[i], Body=bodies[i % len(bodies)])

    with ThreadPoolExecutor(threads) as pool:
        t = time.perf_counter()
        list(pool.map(put, range(n)))
        return n * size / MiB / (time.perf_counter() - t), keys


def get_ceiling(store: S3Store, keys: list[str], threads: int, size: int = BLOCK) -> float:
    """MiB/s of plain boto3 GETs of those objects (of `size` each), each read whole and dropped."""
    bucket, client = store.where.bucket, store.client

    def get(key: str) -> None:
        client.get_object(Bucket=bucket, Key=key)["Body"].read()

    with ThreadPoolExecutor(threads) as pool:
        t = time.perf_counter()
        list(pool.map(get, keys))
        return len(keys) * size / MiB / (time.perf_counter() - t)


def write_ceiling(path: Path, nbytes: int, threads: int) -> float:
    """MiB/s of plain parallel 4 MiB writes to a new sparse file at `path`, each range written back and dropped
    as a restore writes it (fsutil.write_back), then one fsync: what the restore's target takes at most."""
    n = max(threads, nbytes // BLOCK)
    bodies = [os.urandom(BLOCK) for _ in range(min(n, 16))]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, 2 * n * BLOCK)

        def write(i: int) -> None:
            os.pwrite(fd, bodies[i % len(bodies)], 2 * i * BLOCK)  # every other block a hole, as in the image
            fsutil.write_back(fd, 2 * i * BLOCK, BLOCK)

        with ThreadPoolExecutor(threads) as pool:
            t = time.perf_counter()
            list(pool.map(write, range(n)))
            os.fsync(fd)
            return n * BLOCK / MiB / (time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()


def read_path(store: S3Store, hashes: list[str], threads: int) -> float:
    """Seconds the S3 store's read path alone takes (GET, decompress, re-hash; no cache, no target file)."""
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda h: store.read_chunk(h, use_cache=False), hashes):
            pass  # each chunk dropped once read, as a restore does
    return time.perf_counter() - t


def chunk_gets(store: S3Store, hashes: list[str], threads: int) -> float:
    """Seconds to GET every chunk object with the store's own reader, each dropped as read: no decompress, no
    hash, no target file. The most a restore's requests can move on this server, with the chunks' own sizes."""
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda h: store.objects.read(store.chunk_name(h)), hashes):
            pass
    return time.perf_counter() - t


class Cores:
    """CPU the server process and this one (the engine, or the ceiling's client) use between two reads."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def read(self) -> tuple[float, float, float]:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        mine = os.times()
        return time.perf_counter(), (int(fields[11]) + int(fields[12])) / self.tick, mine.user + mine.system

    def since(self, start: tuple[float, float, float]) -> tuple[float, float]:
        now = self.read()
        wall = now[0] - start[0]
        return (now[1] - start[1]) / wall, (now[2] - start[2]) / wall


def halves_side_by_side(store: S3Store, hashes: list[str], path: Path, nbytes: int, threads: int) -> float:
    """Seconds the read path and the target's write ceiling take run at the same time by separate pools."""
    t = time.perf_counter()
    with ThreadPoolExecutor(1) as writer:
        writing = writer.submit(write_ceiling, path, nbytes, threads)
        read_path(store, hashes, threads)
        writing.result()
    return time.perf_counter() - t


def per_gib(counts: dict[str, int], nbytes: int) -> str:
    total = sum(counts.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return f"{total / (nbytes / GiB):.0f} ({detail})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-mib", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2, help="engine workers (each gives 4 IO threads)")
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    data = args.data_mib * MiB // BLOCK * BLOCK
    size = 2 * data
    threads = args.workers * IO_THREADS_PER_WORKER
    rng = random.Random(42)
    work = Path(tempfile.mkdtemp(prefix="objectstore-bench-", dir=args.tmp))
    proc, endpoint = start_server()
    try:
        import boto3

        options = {
            "endpoint_url": endpoint, "access_key_id": "bench", "secret_access_key": "bench", "region": "us-east-1",
            "path_style": True, "cache_dir": str(work / "cache-writer"),
        }  # fmt: skip
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="bench")
        out("date", datetime.now(UTC).isoformat(timespec="seconds"))
        out("machine", f"{os.cpu_count()} cpus, python {sys.version.split()[0]}, moto_server at {endpoint}")
        out("image", f"{size / MiB:.0f} MiB max, {data / MiB:.0f} MiB data, workers={args.workers}, threads={threads}")
        store = init_store("s3://bench/vault", options)
        assert isinstance(store, S3Store)
        put_rate, ceiling_keys = put_ceiling(store, data, threads)
        out("s3_put_ceiling_mib_s", round(put_rate, 1))

        disk, positions = build_image(work / "vm1" / "os.img", size, data, rng)
        actual = disk.allocated_bytes()
        out("actual_data_mib", round(actual / MiB, 1))

        counts = counter(store)
        t = time.perf_counter()
        snap = take_snapshot({"os": disk}, consistency="crash")
        full = backup_snapshot(
            store, item="vm1", point_id="full", snapshot=snap, time=datetime.now(UTC), base=None, workers=args.workers
        )
        t_full = time.perf_counter() - t
        snap.delete()
        stored = full.stored_bytes_new
        out("s3_full_backup_mib_s", round(actual / MiB / t_full, 1))
        out("s3_full_stored_mib", round(stored / MiB, 1))
        # The backup PUTs the compressed bytes: compare what it moved per second with what plain PUTs move.
        out("s3_full_put_mib_s", round(stored / MiB / t_full, 1))
        out("s3_full_vs_put_ceiling", round(stored / MiB / t_full / put_rate, 3))
        out("s3_full_data_vs_put_ceiling", round(actual / MiB / t_full / put_rate, 3))  # disk data per second
        out("s3_full_requests_per_gib", per_gib(counts(), actual))

        hashes = sorted({h for d in full.disks for h in d.chunks if h is not None})
        out("s3_read_chunk_get_mib_s", round(stored / MiB / read_path(store, hashes, threads), 1))
        # The server's cost is mostly per request, and compressed chunks are smaller than the ceiling's 4 MiB: the
        # same ceilings with objects of the chunks' own mean size compare like with like (the targets stay on 4 MiB).
        chunk_size = stored // len(hashes)
        sized_put, sized_keys = put_ceiling(store, stored, threads, size=chunk_size)
        out("s3_chunk_object_mib", round(chunk_size / MiB, 2))
        out("s3_put_ceiling_chunk_size_mib_s", round(sized_put, 1))
        out("s3_full_vs_chunk_size_put_ceiling", round(stored / MiB / t_full / sized_put, 3))

        # Restores through stores opened with empty caches, each right after a GET ceiling: on a small host
        # both share the cores with the server, so the ratio is taken round by round and the median printed.
        target = work / "restore" / "os.img"
        target.parent.mkdir()
        ceilings, sized_ceilings, writes, side_by_side, times, identical = [], [], [], [], [], True
        gets, ceiling_cores, restore_cores, cores = [], [], [], Cores(proc.pid)
        for n in range(ROUNDS):
            start = cores.read()
            ceilings.append(get_ceiling(store, ceiling_keys, threads))
            ceiling_cores.append(cores.since(start))
            gets.append(chunk_gets(store, hashes, threads))
            sized_ceilings.append(get_ceiling(store, sized_keys, threads, size=chunk_size))
            writes.append(write_ceiling(target.with_name("ceiling.img"), actual, threads))
            side_by_side.append(halves_side_by_side(store, hashes, target.with_name("ceiling.img"), actual, threads))
            reader = open_store("s3://bench/vault", dict(options, cache_dir=str(work / f"cache-reader-{n}")))
            assert isinstance(reader, S3Store)
            counts = counter(reader)
            start = cores.read()
            t = time.perf_counter()
            restore_point(reader, "full", {"os": target}, workers=args.workers)
            times.append(time.perf_counter() - t)
            restore_cores.append(cores.since(start))
            identical = identical and files_identical(disk.path, target)
            target.unlink()
        store.objects.delete_many([k[len(store.where.prefix) :] for k in ceiling_keys + sized_keys])
        ratios = [stored / MiB / t / c for t, c in zip(times, ceilings, strict=True)]
        sized_ratios = [stored / MiB / t / c for t, c in zip(times, sized_ceilings, strict=True)]
        # A restore can go no faster than the slower of its two halves alone: GETting the stored bytes at the
        # server's ceiling, and writing the data at the target's; nor than its own two halves (the read path
        # and those writes) run side by side by separate pools, where both draw on the same cores.
        slower = [max(stored / MiB / c, actual / MiB / w) / t for c, w, t in zip(ceilings, writes, times, strict=True)]
        paired = [s / t for s, t in zip(side_by_side, times, strict=True)]
        t_restore = statistics.median(times)
        out("s3_get_ceiling_mib_s", round(statistics.median(ceilings), 1))
        out("s3_restore_mib_s", round(actual / MiB / t_restore, 1))
        out("s3_restore_get_mib_s", round(stored / MiB / t_restore, 1))
        out("s3_restore_vs_get_ceiling", round(statistics.median(ratios), 3))
        out("s3_restore_vs_get_ceiling_rounds", ", ".join(f"{r:.3f}" for r in ratios))
        out("s3_restore_data_vs_get_ceiling", round(statistics.median(ratios) * actual / stored, 3))
        out("s3_get_ceiling_chunk_size_mib_s", round(statistics.median(sized_ceilings), 1))
        out("s3_restore_vs_chunk_size_get_ceiling", round(statistics.median(sized_ratios), 3))
        out("s3_restore_vs_chunk_size_get_ceiling_rounds", ", ".join(f"{r:.3f}" for r in sized_ratios))
        # What the server can send of these very objects to the engine's own GETs, beside the 4 MiB ceiling: the
        # part of the gap that is the objects' sizes and the server, not what the restore does with the bytes.
        out("s3_chunk_gets_mib_s", round(stored / MiB / statistics.median(gets), 1))
        gets_ratios = [stored / MiB / g / c for g, c in zip(gets, ceilings, strict=True)]
        out("s3_chunk_gets_vs_get_ceiling", round(statistics.median(gets_ratios), 3))
        out("s3_chunk_gets_vs_get_ceiling_rounds", ", ".join(f"{r:.3f}" for r in gets_ratios))
        out("s3_restore_vs_chunk_gets", round(statistics.median(g / t for g, t in zip(gets, times, strict=True)), 3))
        for name, used in (("get_ceiling", ceiling_cores), ("restore", restore_cores)):
            server, client = (statistics.median(u[i] for u in used) for i in (0, 1))
            out(f"s3_{name}_cores", f"server {server:.2f}, client {client:.2f}")
        out("s3_restore_target_write_ceiling_mib_s", round(statistics.median(writes), 1))
        out("s3_restore_vs_slower_ceiling", round(statistics.median(slower), 3))
        out("s3_restore_vs_slower_ceiling_rounds", ", ".join(f"{r:.3f}" for r in slower))
        out("s3_restore_vs_halves_side_by_side", round(statistics.median(paired), 3))
        out("s3_restore_vs_halves_side_by_side_rounds", ", ".join(f"{r:.3f}" for r in paired))
        out("s3_restore_requests_per_gib", per_gib(counts(), actual))
        out("s3_restore_identical", "true" if identical else "false")

        # The geo copy: a secondary store in a bucket of its own, seeded with the full point (what a GRS vault's
        # first Replicate job does); the incremental's copy below is the replication lag after each backup.
        s3.create_bucket(Bucket="bench-secondary")
        secondary = init_store("s3://bench-secondary/vault", dict(options, cache_dir=str(work / "cache-secondary")))
        t = time.perf_counter()
        replicate_point(store, secondary, "full")
        out("replication_full_mib_s", round(actual / MiB / (time.perf_counter() - t), 1))

        changed = rng.sample(positions, max(1, round(len(positions) / 100)))
        for b in changed:
            disk.write(b * BLOCK, os.urandom(BLOCK))
        incremental = open_store("s3://bench/vault", options)  # a new process: index and manifests from the cache
        assert isinstance(incremental, S3Store)
        counts = counter(incremental)
        t = time.perf_counter()
        snap = take_snapshot({"os": disk}, consistency="crash")
        inc = backup_snapshot(
            incremental, item="vm1", point_id="inc", snapshot=snap, time=datetime.now(UTC), base=full,
            workers=args.workers,
        )  # fmt: skip
        t_inc = time.perf_counter() - t
        snap.delete()
        out("s3_incremental_blocks_written", len(changed))
        out("s3_incremental_s", round(t_inc, 3))
        out("s3_incremental_bytes_read_ratio", round(inc.bytes_read / actual, 4))
        out("s3_incremental_vs_full", round(t_inc / t_full, 4))
        out("s3_incremental_requests", per_gib(counts(), GiB))
        t = time.perf_counter()
        copied = replicate_point(incremental, secondary, "inc")
        out("replication_lag_s", round(time.perf_counter() - t, 3))  # engine copy only, no job dispatch
        out("replication_lag_chunks_copied", copied.chunks_copied)
        restore_point(secondary, "inc", {"os": target}, workers=args.workers)
        out("replica_restore_identical", "true" if files_identical(disk.path, target) else "false")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
