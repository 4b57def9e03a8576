"""Soak benchmark (not a test): python benchmarks/soak.py [--minutes 10] [--vms 200]

Builds a throwaway world (its own VAR_DIR, a private redis-server on a free loopback port, and the database of
DATABASE_URL, else a SQLite file): one vault, VMS protected machines with small real disks (about 2 MB of data
each) under 4 policies whose schedules fire every --interval seconds (django-celery-beat interval schedules,
staggered), and runs for --minutes with real processes:

  2 Celery workers (concurrency 1 each), celery beat (DatabaseScheduler), the portal under gunicorn (DEBUG off),
  guest writes into random running machines every few seconds, one garbage collection mid-run,
  and a bounded poller of the Jobs page and the dashboard.

Then it stops beat, lets the queue drain (bounded), and prints `name: value` lines:
backups_completed, backups_failed, p95_job_latency_s (request to end, queueing included), stuck_jobs (must be 0),
verify_errors (must be 0), store_bytes, portal_p95_ms, and a few more.
With DATABASE_URL pointing at PostgreSQL, the database is emptied first (flush): use one made for it.
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
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REDIS_PORT = free_port()
os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"

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
from backup.jobs.models import ACTIVE_STATUSES, Job, JobStatus, Operation  # noqa: E402
from backup.tenancy.models import Membership, Subscription  # noqa: E402
from backup.vaults.models import Vault  # noqa: E402
from backup.vms.models import (  # noqa: E402
    BackupPolicy,
    CloudService,
    ProtectedItem,
    RegisteredItem,
    StorageAccount,
    VirtualDisk,
    VirtualMachine,
)
from backup.vms.services import gc as gc_service  # noqa: E402
from backup.vms.services import guest  # noqa: E402
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
    vault = Vault.objects.create(subscription=subscription, name="Soak-Vault", region="West US",
                                 status=Vault.Status.ACTIVE)
    shutil.rmtree(vault.store_path, ignore_errors=True)
    engine.Store.init(vault.store_path)
    account = StorageAccount.objects.create(subscription=subscription, name="soaksa", region="West US")
    policies = [BackupPolicy.objects.create(vault=vault, name=f"Soak-{n}", time_of_day=dtime(22, 0), timezone="UTC",
                                            daily_retention_days=7) for n in range(4)]
    rng = random.Random(2015)
    for n in range(vms):
        service = CloudService.objects.create(subscription=subscription, name=f"soak-cs-{n}", region="West US")
        vm = VirtualMachine.objects.create(subscription=subscription, cloud_service=service, name=f"vm{n:03d}")
        os_disk = VirtualDisk.objects.create(vm=vm, kind="os", storage_account=account, max_size=layout.OS_DISK_MAX)
        data = VirtualDisk.objects.create(vm=vm, kind="data", lun=0, storage_account=account,
                                          max_size=layout.DATA_DISK_MAX)
        resource = VirtualDisk.objects.create(vm=vm, kind="resource", storage_account=account,
                                              max_size=layout.RESOURCE_DISK_MAX)
        layout.create_vm_disks(settings_root(), account.pk, layout.VmDiskIds(os_disk.pk, (data.pk,), resource.pk),
                               rng, os_data=1536 * KiB, data_disk_data=512 * KiB, resource_data=0)
        registered = RegisteredItem.objects.create(vault=vault, vm=vm, vm_name=vm.name, cloud_service_name=service.name,
                                                   status=RegisteredItem.Status.REGISTERED,
                                                   registered_at=timezone.now())
        ProtectedItem.objects.create(vault=vault, registered_item=registered, vm=vm, vm_name=vm.name,
                                     cloud_service_name=service.name, policy=policies[n % len(policies)])
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
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


def spawn(name: str, args: list[str]) -> subprocess.Popen:
    out = open(WORK / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(args, cwd=ROOT, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--interval", type=int, default=120, help="seconds between a policy's scheduled runs")
    parser.add_argument("--drain", type=int, default=300, help="seconds allowed for the queue to drain at the end")
    args = parser.parse_args()

    redis = subprocess.Popen(["/usr/bin/redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(WORK)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes: list[subprocess.Popen] = []
    try:
        log(f"seeding {args.vms} protected VMs in {WORK}")
        vault, user = seed(args.vms, args.interval)
        web_port = free_port()
        processes.append(spawn("web", [PYTHON, "-m", "gunicorn", "portal.wsgi", "-b", f"127.0.0.1:{web_port}",
                                       "-w", "2", "--access-logfile", "-", "-c", "/dev/null"]))
        for n in range(2):
            processes.append(spawn(f"worker{n}", [PYTHON, "-m", "celery", "-A", "portal", "worker", "-Q", "soak",
                                                  "--concurrency", "1", "--hostname", f"soak{n}@%h",
                                                  "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]))
        processes.append(spawn("beat", [PYTHON, "-m", "celery", "-A", "portal", "beat", "--loglevel", "WARNING",
                                        "-S", "django_celery_beat.schedulers:DatabaseScheduler",
                                        "--max-interval", "5"]))
        base = f"http://127.0.0.1:{web_port}/vaults/{vault.pk}"
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        halt = threading.Event()
        poller = Poller(base, session_cookie(user), halt)
        written: list[int] = []
        writer = threading.Thread(target=guest_workload, args=(halt, written), daemon=True)
        poller.start()
        writer.start()
        started = time.monotonic()
        gc_started = False
        log(f"running for {args.minutes} minutes")
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(10)
            if not gc_started and time.monotonic() - started > args.minutes * 30:
                gc_service.start_gc(vault)  # beside running backups
                gc_started = True
            done = Job.objects.filter(operation=Operation.BACKUP, status=JobStatus.COMPLETED).count()
            active = Job.objects.filter(status__in=ACTIVE_STATUSES).count()
            log(f"backups completed so far: {done}; active jobs: {active}")
        stop(processes.pop())  # beat: no new scheduled work
        halt.set()
        drain_started = time.monotonic()
        while Job.objects.filter(status__in=ACTIVE_STATUSES).exists() and time.monotonic() - drain_started < args.drain:
            time.sleep(2)
        drained_s = time.monotonic() - drain_started
        poller.join(timeout=35)
        writer.join(timeout=35)

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
        print(f"stuck_jobs: {Job.objects.filter(status__in=ACTIVE_STATUSES).count()}")
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
        print(f"database: {connection.vendor}")
        for reason in reasons:
            print(f"failure_reason: {reason}")
    finally:
        for process in reversed(processes):
            stop(process)
        redis.terminate()
        redis.wait(timeout=10)
        if not os.environ.get("SOAK_KEEP"):
            shutil.rmtree(WORK, ignore_errors=True)
        else:
            log(f"kept {WORK}")


if __name__ == "__main__":
    main()
