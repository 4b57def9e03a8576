"""Soak benchmark (not a test): python benchmarks/soak.py [--minutes 10] [--vms 200] [--chaos]

Builds a throwaway world (its own VAR_DIR, a private redis-server on a free loopback port, and the database of
DATABASE_URL, else a SQLite file): one vault, VMS protected machines with small real disks (about 2 MB of data
each) under 4 policies whose schedules fire every --interval seconds (django-celery-beat interval schedules,
staggered), and runs for --minutes with real processes:

  2 Celery workers (concurrency 1 each), celery beat (portal.beat's scheduler), the portal under gunicorn (DEBUG off),
  guest writes into random running machines every few seconds, one garbage collection mid-run,
  and a bounded poller of the Jobs page and the dashboard.

Then it stops beat, lets the queue drain (bounded), and prints `name: value` lines:
backups_completed, backups_failed, p95_job_latency_s (request to end, queueing included), stuck_jobs (must be 0),
verify_errors (must be 0), store_bytes, portal_p95_ms, anomaly_false_alarms (suspicious points raised, though nothing
encrypts a disk: must be 0), and a few more.
With DATABASE_URL pointing at PostgreSQL, the database is emptied first (flush): use one made for it.

--chaos adds faults while the machines back up (all on loopback, all bounded in time): every --kill-every seconds a
random worker is SIGKILLed (with its pool) and started again; once, the private redis-server is stopped for
--outage seconds and started again (empty, as it keeps nothing); garbage collection runs every --gc-every seconds;
and one byte of one chunk file referenced by a recovery point is flipped. At the end, after the drain, it verifies
every vault through the portal's Verify job, runs one more backup of every protected item (the round that should
heal damaged data), verifies again with the engine, restores a sample of points and compares them byte for byte
with their source disks, and prints stuck_jobs, unrecorded_manifests, damaged_points_unhealed, restore_mismatches,
verify_errors_after_heal and backups_completed with the other lines.

--alerts switches alerts on (benchmarks/soak_alerts.py): some machines' backups fail, a few items go stale, the broker
is restarted once, and it prints alert_latency_p95_s, stale_alert_delay_s, alerts_lost and alerts_duplicated.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import time as dtime
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="portal-soak-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORK / 'soak.sqlite3'}")
os.environ["VAR_DIR"] = str(WORK / "var")
os.environ["STATIC_ROOT"] = str(WORK / "static")
os.environ["DEBUG"] = "0"
os.environ["SECURE_SSL_REDIRECT"] = "0"
os.environ["SECRET_KEY"] = "soak-" + "x" * 60
os.environ["LOG_LEVEL"] = "WARNING"
os.environ["LOG_FORMAT"] = "text"
os.environ["JOB_HEARTBEAT_TIMEOUT_S"] = "60"
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = "soak"
if "--chaos" in sys.argv:
    # Jobs whose message died with the broker are sent again after a minute rather than five: the run is short.
    os.environ["JOB_REQUEUE_AFTER_S"] = "60"
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REDIS_PORT = free_port()
os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
SMTP_PORT = free_port()
if "--alerts" in sys.argv:
    # Short checks and grace, and the soak's own SMTP server (benchmarks/soak_alerts.py).
    os.environ.update(
        {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(SMTP_PORT),
            "ALERTS_STALE_GRACE_S": "30",
            "ALERTS_CHECK_EVERY_S": "5",
            "ALERTS_DELIVER_EVERY_S": "5",
            "JOB_REQUEUE_AFTER_S": "60",
        }
    )

import django  # noqa: E402

django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_celery_beat.models import IntervalSchedule  # noqa: E402

from backup import engine  # noqa: E402
from backup.fabric import layout  # noqa: E402
from backup.fabric.disks import Disk  # noqa: E402
from backup.jobs import runner as job_runner  # noqa: E402
from backup.jobs import services as job_services  # noqa: E402
from backup.jobs.models import ACTIVE_STATUSES, Job, JobStatus, Operation  # noqa: E402
from backup.tenancy.models import Membership, Subscription  # noqa: E402
from backup.vaults.models import Vault  # noqa: E402
from backup.vms.models import (  # noqa: E402
    BackupPolicy,
    CloudService,
    PointAnomaly,
    ProtectedItem,
    RecoveryPoint,
    RegisteredItem,
    StorageAccount,
    VirtualDisk,
    VirtualMachine,
)
from backup.vms.services import backup as backup_service  # noqa: E402
from backup.vms.services import gc as gc_service  # noqa: E402
from backup.vms.services import guest  # noqa: E402
from backup.vms.services import operations as operations_service  # noqa: E402
from backup.vms.services.policies import sync_schedule  # noqa: E402

KiB, MiB = 1 << 10, 1 << 20
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def seed(vms: int, interval_s: int) -> tuple[Vault, object]:
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: hashed names from the manifest
    if connection.vendor != "sqlite":
        call_command("flush", interactive=False, verbosity=0)
    user = get_user_model().objects.create_user("soak", password="Soak-Benchmark-2015")
    subscription = Subscription.objects.create(name="Soak")
    Membership.objects.create(user=user, subscription=subscription)
    vault = Vault.objects.create(
        subscription=subscription, name="Soak-Vault", region="West US", status=Vault.Status.ACTIVE
    )
    shutil.rmtree(vault.store_path, ignore_errors=True)
    engine.Store.init(vault.store_path)
    account = StorageAccount.objects.create(subscription=subscription, name="soaksa", region="West US")
    policies = [
        BackupPolicy.objects.create(
            vault=vault, name=f"Soak-{n}", time_of_day=dtime(22, 0), timezone="UTC", daily_retention_days=7
        )
        for n in range(4)
    ]
    rng = random.Random(2015)
    for n in range(vms):
        service = CloudService.objects.create(subscription=subscription, name=f"soak-cs-{n}", region="West US")
        vm = VirtualMachine.objects.create(subscription=subscription, cloud_service=service, name=f"vm{n:03d}")
        os_disk = VirtualDisk.objects.create(vm=vm, kind="os", storage_account=account, max_size=layout.OS_DISK_MAX)
        data = VirtualDisk.objects.create(
            vm=vm, kind="data", lun=0, storage_account=account, max_size=layout.DATA_DISK_MAX
        )
        resource = VirtualDisk.objects.create(
            vm=vm, kind="resource", storage_account=account, max_size=layout.RESOURCE_DISK_MAX
        )
        layout.create_vm_disks(
            settings_root(),
            account.pk,
            layout.VmDiskIds(os_disk.pk, (data.pk,), resource.pk),
            rng,
            os_data=1536 * KiB,
            data_disk_data=512 * KiB,
            resource_data=0,
        )
        registered = RegisteredItem.objects.create(
            vault=vault,
            vm=vm,
            vm_name=vm.name,
            cloud_service_name=service.name,
            status=RegisteredItem.Status.REGISTERED,
            registered_at=timezone.now(),
        )
        ProtectedItem.objects.create(
            vault=vault,
            registered_item=registered,
            vm=vm,
            vm_name=vm.name,
            cloud_service_name=service.name,
            policy=policies[n % len(policies)],
        )
    # Schedules every `interval_s`, staggered: each policy's PeriodicTask gets an interval instead of its crontab.
    for n, policy in enumerate(policies):
        task = sync_schedule(policy)
        every, _ = IntervalSchedule.objects.get_or_create(every=interval_s, period=IntervalSchedule.SECONDS)
        task.crontab, task.interval = None, every
        task.start_time = timezone.now() + timedelta(seconds=5 + n * interval_s // len(policies))
        task.save()
    return vault, user


def settings_root() -> Path:
    from django.conf import settings

    return Path(settings.FABRIC_ROOT)


def session_cookie(user) -> str:
    from django.conf import settings

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


def spawn(name: str, args: list[str]) -> subprocess.Popen:
    out = open(WORK / f"{name}.log", "a")  # noqa: SIM115 - lives as long as the process; a restart appends
    return subprocess.Popen(
        args, cwd=ROOT, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


class Poller(threading.Thread):
    """A bounded loop of requests against the Jobs page and the dashboard while the soak runs."""

    def __init__(self, base: str, cookie: str, stop: threading.Event, limit: int = 5000):
        super().__init__(daemon=True)
        self.urls, self.cookie, self.stop, self.limit = [f"{base}/jobs/", f"{base}/dashboard/"], cookie, stop, limit
        self.latencies_ms: list[float] = []
        self.errors = 0

    def run(self) -> None:
        for n in range(self.limit):
            if self.stop.is_set():
                return
            request = urllib.request.Request(self.urls[n % 2], headers={"Cookie": self.cookie})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    if response.status != 200:
                        self.errors += 1
            except OSError as error:
                self.errors += 1
                if self.errors <= 3:
                    log(f"portal request failed: {error}")
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            self.stop.wait(0.5)


def guest_workload(stop: threading.Event, written: list[int]) -> None:
    """Applications writing into random running machines, through the fabric (change-tracked)."""
    guest.MAX_FILE = 256 * KiB
    rng = random.Random(7)
    ids = list(VirtualMachine.objects.values_list("pk", flat=True))
    while not stop.wait(3):
        for vm in VirtualMachine.objects.filter(pk__in=rng.sample(ids, min(10, len(ids)))):
            written.append(guest.write_guest_files(vm, files=1, rng=rng).bytes_written)
    connection.close()


def p95(values: list[float]) -> float:
    if not values:
        return 0.0
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_redis() -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "/usr/bin/redis-server",
            "--port",
            str(REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(WORK),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    return process


def worker_command(n: int) -> list[str]:
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "-Q",
        "soak",
        "--concurrency",
        "1",
        "--hostname",
        f"soak{n}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "WARNING",
    ]


def active_jobs() -> int:
    return Job.objects.filter(status__in=ACTIVE_STATUSES).count()


def drain(limit_s: float, maintain: bool) -> float:
    """Wait (bounded) until no job is active. With `maintain`, do meanwhile what beat's system schedules do
    (beat is stopped so that no new backup starts): fail the jobs of killed workers, resend the lost ones."""
    started = time.monotonic()
    last_maintenance = 0.0
    while active_jobs() and time.monotonic() - started < limit_s:
        if maintain and time.monotonic() - last_maintenance >= 10:
            job_runner.reap_lost_jobs()
            job_services.requeue_unclaimed()
            last_maintenance = time.monotonic()
        time.sleep(2)
    return time.monotonic() - started


class Chaos:
    """The faults of --chaos, each fired from the main loop when due."""

    def __init__(self, args, vault: Vault, workers: dict[int, subprocess.Popen], redis: list[subprocess.Popen]):
        self.args, self.vault, self.workers, self.redis = args, vault, workers, redis
        self.rng = random.Random(1506)
        self.start = time.monotonic()
        self.next_kill = args.kill_every
        self.next_gc = args.gc_every / 2
        self.outage_at, self.outage_until = args.minutes * 60 * 0.4, None
        # Late, so that the flipped chunk is still referenced by the newest points when the run ends.
        self.corrupt_at = args.minutes * 60 * 0.7
        self.corrupted: tuple[str, list[str]] | None = None  # chunk hash, points referencing it then
        self.kills = self.unplanned_exits = self.gc_started = 0
        self.broker_outage_s = 0.0

    def tick(self) -> None:
        now = time.monotonic() - self.start
        for n, process in list(self.workers.items()):
            if process.poll() is not None:  # died without being killed: what systemd would do, counted
                self.unplanned_exits += 1
                log(f"worker{n} exited by itself (code {process.returncode}); starting it again")
                self.workers[n] = spawn(f"worker{n}", worker_command(n))
        if now >= self.next_kill:
            n = self.rng.choice(sorted(self.workers))
            os.killpg(self.workers[n].pid, signal.SIGKILL)
            self.workers[n].wait()
            self.kills += 1
            log(f"chaos: SIGKILLed worker{n}; starting it again")
            self.workers[n] = spawn(f"worker{n}", worker_command(n))
            self.next_kill += self.args.kill_every
        if now >= self.next_gc:
            gc_service.start_gc(self.vault)
            self.gc_started += 1
            log("chaos: garbage collection started")
            self.next_gc += self.args.gc_every
        if self.outage_until is None and now >= self.outage_at:
            self.redis[0].terminate()
            self.redis[0].wait(timeout=10)
            self.outage_until = now + self.args.outage
            log(f"chaos: redis-server stopped for {self.args.outage} s")
        elif self.outage_until is not None and self.redis[0].poll() is not None and now >= self.outage_until:
            self.redis[0] = start_redis()
            self.broker_outage_s = now - self.outage_at
            log("chaos: redis-server started again (empty)")
        if self.corrupted is None and now >= self.corrupt_at:
            self.corrupted = corrupt_one_chunk(engine.Store.open(self.vault.store_path), self.rng)
            if self.corrupted:
                log(f"chaos: flipped a byte of chunk {self.corrupted[0][:12]}, used by {len(self.corrupted[1])} points")
            else:
                self.corrupt_at += 10  # no recovery point yet

    def finish(self) -> None:
        """The broker comes back even when the run ended during its outage."""
        if self.redis[0].poll() is not None:
            self.redis[0] = start_redis()
            self.broker_outage_s = time.monotonic() - self.start - self.outage_at


def corrupt_one_chunk(store: engine.Store, rng: random.Random) -> tuple[str, list[str]] | None:
    """Flip one byte in the payload of a chunk file of an item's newest point, the one most points reference (bit
    rot where it hurts most: a chunk that incremental backups keep referring to instead of reading it again)."""
    manifests = store.list_manifests()
    users: dict[str, list[str]] = {}
    for m in manifests:
        for h in {h for d in m.disks for h in d.chunks if h is not None}:
            users.setdefault(h, []).append(m.point_id)
    newest: dict[str, engine.Manifest] = {}
    for m in sorted(manifests, key=lambda m: m.time):
        newest[m.item] = m
    candidates = sorted({h for m in newest.values() for d in m.disks for h in d.chunks if h is not None})
    if not candidates:
        return None
    most = max(len(users[h]) for h in candidates)
    chunk = rng.choice([h for h in candidates if len(users[h]) == most])
    path = store.chunk_path(chunk)
    data = bytearray(path.read_bytes())
    offset = rng.randrange(1, len(data)) if len(data) > 1 else 0  # byte 0 is the header: corrupt the payload
    data[offset] ^= 0xFF
    mode = path.stat().st_mode
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    path.chmod(mode)
    return chunk, users[chunk]


def damaged_points(vault: Vault, report: engine.VerifyReport) -> set[str]:
    """Point ids of `vault` whose data is damaged: every point that references a missing or corrupt chunk in the
    engine's verify report of the vault's store. Switch to the recovery points' damaged mark once they have one:
    set(RecoveryPoint.objects.filter(vault=vault, damaged=True).values_list("point_id", flat=True))."""
    return {point for problem in report.missing + report.corrupt for point, _disk in problem.references}


def unrecorded_manifests(vault: Vault) -> list[str]:
    """Manifests committed in the vault's store without a RecoveryPoint row: data the portal does not show."""
    recorded = set(RecoveryPoint.objects.filter(vault=vault).values_list("point_id", flat=True))
    manifests = engine.Store.open(vault.store_path).list_manifests()
    return sorted(m.point_id for m in manifests if m.point_id not in recorded)


def data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    extents, offset = [], 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole remains
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        extents.append((start, end))
        offset = end
    return extents


def same_bytes(a: Path, b: Path) -> bool:
    """Byte-identical files, reading only where either has data (holes read as zeros)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    size = a.stat().st_size
    fa, fb = os.open(a, os.O_RDONLY), os.open(b, os.O_RDONLY)
    try:
        for start, end in sorted(data_extents(fa, size) + data_extents(fb, size)):
            for offset in range(start, end, 4 * MiB):
                length = min(4 * MiB, end - offset)
                if os.pread(fa, length, offset) != os.pread(fb, length, offset):
                    return False
        return True
    finally:
        os.close(fa)
        os.close(fb)


def source_unchanged_since(point: RecoveryPoint, manifest: engine.Manifest) -> bool:
    """True when no disk of the point's machine was written since the point's snapshot (change tracking says
    so), so the disks as they are now are the source of that point."""
    vm = point.protected_item.vm if point.protected_item else None
    if vm is None:
        return False
    disks = {disk.key: disk for disk in vm.disks.all()}
    for disk in manifest.disks:
        if disk.key not in disks or Disk(disks[disk.key].path).changed_ranges_since(disk.change_id) != []:
            return False
    return True


def check_restores(vault: Vault, sample: int, rng: random.Random) -> tuple[int, int, int, list[str]]:
    """Restore up to `sample` points whose source is known (their machine unchanged since; the newest point of
    every machine qualifies after the final round) and compare every disk with its source.
    Returns (checked, mismatches, failures, details)."""
    store = engine.Store.open(vault.store_path)
    points = list(RecoveryPoint.objects.filter(vault=vault).select_related("protected_item__vm"))
    rng.shuffle(points)
    checked = mismatches = failures = 0
    details = []
    target_dir = WORK / "restores"
    target_dir.mkdir(exist_ok=True)
    for point in points:
        if checked >= sample:
            break
        try:
            manifest = store.load_manifest(point.point_id)
        except engine.EngineError as error:
            failures += 1
            details.append(f"{point.point_id}: {error}")
            continue
        if not source_unchanged_since(point, manifest):
            continue
        checked += 1
        targets = {d.key: target_dir / f"{point.point_id}-{d.key}.img" for d in manifest.disks}
        try:
            engine.restore_point(store, point.point_id, targets)
        except engine.EngineError as error:
            failures += 1
            details.append(f"{point.point_id}: restore failed: {error}")
        else:
            sources = {disk.key: disk.path for disk in point.protected_item.vm.disks.all()}
            differ = [key for key, target in targets.items() if not same_bytes(sources[key], target)]
            if differ:
                mismatches += 1
                details.append(f"{point.point_id}: differs from its source on {', '.join(differ)}")
        finally:
            for target in targets.values():
                target.unlink(missing_ok=True)
    return checked, mismatches, failures, details


def wait_job(job: Job, timeout: float) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status not in ACTIVE_STATUSES:
            break
        time.sleep(1)
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--interval", type=int, default=120, help="seconds between a policy's scheduled runs")
    parser.add_argument("--drain", type=int, default=300, help="seconds allowed for the queue to drain at the end")
    parser.add_argument("--chaos", action="store_true", help="kill workers, stop the broker, corrupt a chunk, GC")
    parser.add_argument("--kill-every", type=int, default=60, help="--chaos: seconds between worker SIGKILLs")
    parser.add_argument("--gc-every", type=int, default=120, help="--chaos: seconds between garbage collections")
    parser.add_argument("--outage", type=int, default=30, help="--chaos: seconds the broker stays down, once")
    parser.add_argument("--restore-sample", type=int, default=20, help="--chaos: points restored and compared")
    parser.add_argument(
        "--alerts",
        action="store_true",
        help="alerts on: failing and stale items, SMTP and webhook receivers (soak_alerts.py)",
    )
    parser.add_argument("--alerts-outage", type=int, default=10, help="--alerts: seconds the broker stays down, once")
    args = parser.parse_args()

    redis = [start_redis()]
    processes: list[subprocess.Popen] = []
    workers: dict[int, subprocess.Popen] = {}
    beat = chaos = alerts = None
    try:
        log(f"seeding {args.vms} protected VMs in {WORK}")
        vault, user = seed(args.vms, args.interval)
        if args.alerts:
            from benchmarks.soak_alerts import AlertsRun

            alerts = AlertsRun(SMTP_PORT, args)
            alerts.seed(vault, args.interval)
        web_port = free_port()
        processes.append(
            spawn(
                "web",
                [
                    PYTHON,
                    "-m",
                    "gunicorn",
                    "portal.wsgi",
                    "-b",
                    f"127.0.0.1:{web_port}",
                    "-w",
                    "2",
                    "--access-logfile",
                    "-",
                    "-c",
                    "/dev/null",
                ],
            )
        )
        for n in range(2):
            workers[n] = spawn(f"worker{n}", worker_command(n))
        beat = spawn(
            "beat",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "portal",
                "beat",
                "--loglevel",
                "WARNING",
                "-S",
                "portal.beat:RetryingDatabaseScheduler",
                "--max-interval",
                "5",
            ],
        )
        base = f"http://127.0.0.1:{web_port}/vaults/{vault.pk}"
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        halt = threading.Event()
        poller = Poller(base, session_cookie(user), halt)
        written: list[int] = []
        writer = threading.Thread(target=guest_workload, args=(halt, written), daemon=True)
        poller.start()
        writer.start()
        started = time.monotonic()
        if alerts:
            alerts.begin()
        gc_started = False
        chaos = Chaos(args, vault, workers, redis) if args.chaos else None
        log(f"running for {args.minutes} minutes{' with chaos' if chaos else ''}")
        last_report = time.monotonic()
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(1 if chaos or alerts else 10)
            if chaos:
                chaos.tick()
            if alerts:
                alerts.tick(time.monotonic() - started, redis, start_redis, bool(chaos), log)
            elif not gc_started and time.monotonic() - started > args.minutes * 30:
                gc_service.start_gc(vault)  # beside running backups
                gc_started = True
            if time.monotonic() - last_report >= 10:
                done = Job.objects.filter(operation=Operation.BACKUP, status=JobStatus.COMPLETED).count()
                log(f"backups completed so far: {done}; active jobs: {active_jobs()}")
                last_report = time.monotonic()
        beat_exit = beat.poll()
        if alerts:
            # No new backups, but beat goes on checking and delivering alerts until they are settled.
            from django_celery_beat.models import PeriodicTask, PeriodicTasks

            PeriodicTask.objects.filter(pk__in=BackupPolicy.objects.values("periodic_task")).update(enabled=False)
            PeriodicTasks.update_changed()
        else:
            stop(beat)  # no new scheduled work
        halt.set()
        if chaos:
            chaos.finish()
        drained_s = drain(args.drain, maintain=bool(chaos))
        poller.join(timeout=35)
        writer.join(timeout=35)
        stuck = active_jobs()

        backups = Job.objects.filter(operation=Operation.BACKUP)
        completed = list(backups.filter(status=JobStatus.COMPLETED).values_list("started_at", "ended_at"))
        latencies = [(end - start).total_seconds() for start, end in completed]
        store = engine.Store.open(vault.store_path)
        report = engine.verify(store)
        stats = store.stats()
        failed = backups.filter(status=JobStatus.FAILED)
        reasons = sorted(set(failed.values_list("error_message", flat=True)))[:5]
        print(f"minutes: {args.minutes}")
        print(f"protected_vms: {args.vms}")
        print(f"backups_completed: {len(completed)}")
        print(f"backups_failed: {failed.count()}")
        print(f"p95_job_latency_s: {p95(latencies):.1f}")
        print(f"stuck_jobs: {stuck}")
        print(f"verify_errors: {len(report.missing) + len(report.corrupt)}")
        print(f"store_bytes: {stats.stored_bytes}")
        print(f"recovery_points: {len(store.list_manifests())}")
        print(f"logical_bytes: {stats.logical_bytes}")
        others_failed = Job.objects.filter(status=JobStatus.FAILED).exclude(operation=Operation.BACKUP)
        print(f"other_jobs_failed: {others_failed.count()}")
        gc_jobs = Job.objects.filter(operation=Operation.GARBAGE_COLLECTION)
        print(f"gc_jobs: {gc_jobs.count()} ({gc_jobs.filter(status=JobStatus.COMPLETED).count()} completed)")
        print(f"guest_bytes_written: {sum(written)}")
        print(f"drain_s: {drained_s:.1f}")
        print(f"portal_requests: {len(poller.latencies_ms)}")
        print(f"portal_errors: {poller.errors}")
        print(f"portal_p95_ms: {p95(poller.latencies_ms):.1f}")
        # Nothing in a soak run encrypts a disk: every suspicious point it raises is a false alarm (target 0).
        # Backups compared with their item's history (an item's first ANOMALY_MIN_HISTORY backups are not).
        per_item = Counter(
            backups.filter(status=JobStatus.COMPLETED).values_list("params__protected_item_id", flat=True)
        )
        print(f"anomaly_backups_compared: {sum(max(0, n - 3) for n in per_item.values())}")
        print(f"anomaly_false_alarms: {PointAnomaly.objects.count()}")
        print(f"database: {connection.vendor}")
        for reason in reasons:
            print(f"failure_reason: {reason}")
        if chaos:
            chaos_report(args, chaos, user, beat_exit, workers)
        if alerts:
            alerts.drill(vault)
            alerts.report()
    finally:
        if alerts:
            alerts.stop()
        for process in [*([beat] if beat else []), *workers.values(), *reversed(processes)]:
            stop(process)
        redis[0].terminate()
        redis[0].wait(timeout=10)
        if not os.environ.get("SOAK_KEEP"):
            shutil.rmtree(WORK, ignore_errors=True)
        else:
            log(f"kept {WORK}")


def chaos_report(args, chaos: Chaos, user, beat_exit: int | None, workers: dict[int, subprocess.Popen]) -> None:
    """Verify, heal, verify again, restore a sample; print the chaos lines."""
    vaults = list(Vault.objects.filter(status=Vault.Status.ACTIVE))
    print(f"chaos_worker_kills: {chaos.kills}")
    print(f"chaos_worker_unplanned_exits: {chaos.unplanned_exits}")
    print(f"chaos_beat_exited: {'no' if beat_exit is None else f'yes (code {beat_exit})'}")
    print(f"chaos_broker_outage_s: {chaos.broker_outage_s:.0f}")
    print(f"chaos_gc_started: {chaos.gc_started}")
    if chaos.corrupted:
        print(f"chaos_corrupted_chunk: {chaos.corrupted[0][:16]} (used by {len(chaos.corrupted[1])} points then)")
    never = ProtectedItem.objects.filter(vault__in=vaults, recovery_points__isnull=True).count()
    print(f"items_without_points_before_heal: {never}")
    damaged_before: dict[int, set[str]] = {}
    for vault in vaults:
        damaged_before[vault.pk] = damaged_points(vault, engine.verify(engine.Store.open(vault.store_path)))
        # The portal's own check of the vault, as an operator would run it after an incident.
        job = wait_job(operations_service.start_verify(vault), timeout=300)
        print(f"verify_job_{vault.pk}: {job.status} {job.error_message}".rstrip())
    print(f"damaged_points_before_heal: {sum(len(p) for p in damaged_before.values())}")

    # One more backup of every protected item: the round that should heal damaged data.
    since = timezone.now()
    for vault in vaults:
        for item in ProtectedItem.objects.filter(vault=vault):
            backup_service.back_up_now(item, user)
    heal_s = drain(args.drain, maintain=True)
    heal_jobs = Job.objects.filter(operation=Operation.BACKUP, started_at__gte=since)
    print(
        f"heal_round_backups: {heal_jobs.filter(status=JobStatus.COMPLETED).count()} completed, "
        f"{heal_jobs.filter(status=JobStatus.FAILED).count()} failed, in {heal_s:.0f} s"
    )

    errors_after = unhealed = unrecorded = 0
    checked = mismatches = failures = 0
    details: list[str] = []
    rng = random.Random(2015)
    for vault in vaults:
        report = engine.verify(engine.Store.open(vault.store_path))
        errors_after += len(report.missing) + len(report.corrupt)
        unhealed += len(damaged_points(vault, report))
        unrecorded += len(unrecorded_manifests(vault))
        c, m, f, d = check_restores(vault, args.restore_sample, rng)
        checked, mismatches, failures, details = checked + c, mismatches + m, failures + f, details + d
    if chaos.corrupted:
        still = [
            m.point_id
            for vault in vaults
            for m in engine.Store.open(vault.store_path).list_manifests()
            if any(chaos.corrupted[0] in d.chunks for d in m.disks)
        ]
        print(f"chaos_corrupted_chunk_referenced_at_end: {len(still)} points")
    print(f"stuck_jobs: {active_jobs()}")
    print(f"unrecorded_manifests: {unrecorded}")
    print(f"damaged_points_unhealed: {unhealed}")
    print(f"restores_checked: {checked}")
    print(f"restore_mismatches: {mismatches}")
    print(f"restore_failures: {failures}")
    print(f"verify_errors_after_heal: {errors_after}")
    print(f"backups_completed: {Job.objects.filter(operation=Operation.BACKUP, status=JobStatus.COMPLETED).count()}")
    for detail in details[:5]:
        print(f"restore_problem: {detail}")


if __name__ == "__main__":
    main()
