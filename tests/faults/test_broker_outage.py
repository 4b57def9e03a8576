"""The broker stops while the portal and a worker run on it: pages keep answering, a job started meanwhile is
recorded (not a 500), the worker that held a message outlives the outage, and everything queued completes once the
broker is back (the requeue task sends what never reached it). Redis and RabbitMQ, each a private server."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from backup import engine
from backup.jobs import services as jobs
from backup.jobs.models import ACTIVE_STATUSES, Job, JobStatus, Operation
from backup.vms.services import backup as backups
from tests.conftest import PASSWORD
from tests.factories import make_protected_item, make_vault
from tests.faults.helpers import RABBITMQ_SERVER, Portal, RabbitMQ, Redis, final, manage, own_broker
from tests.worker import start_worker, stop_worker, wait_for, worker_env

OUTAGE_S = 60

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.mark.own_broker
def test_a_broker_outage_loses_nothing_and_never_breaks_a_page(alice, alpha, api_headers):
    redis = Redis().start()
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-broker"
    env = {"CELERY_BROKER_URL": redis.url, "CELERY_TASK_DEFAULT_QUEUE": queue, "BACKUP_TEST_THROTTLE_S": "0.3"}
    logs = Path(settings.VAR_DIR) / "logs"
    vault = make_vault(alpha)
    first, second = make_protected_item(alpha, vault, os_mib=6, data_mib=2), make_protected_item(alpha, vault)
    auth = api_headers(alice)
    portal = Portal(env, logs)
    worker = start_worker("broker", logs, extra_env=env)
    try:
        browser = portal.session("alice", PASSWORD)
        jobs_page = f"{portal.url}/vaults/{vault.pk}/jobs/"
        # A backup starts while Redis is up...
        response = browser.post(f"{portal.url}/api/v1/protected-items/{first.pk}/backup", headers=auth, timeout=30)
        assert response.status_code in (200, 201, 202), response.text
        running = Job.objects.get(operation=Operation.BACKUP, item_id=first.vm_id)
        wait_for(lambda: Job.objects.get(pk=running.pk).bytes_done > 0, timeout=60, message="the transfer")

        # ... and Redis stops under it.
        redis.stop()
        started = time.monotonic()
        page = browser.get(jobs_page, timeout=30)
        assert page.status_code == 200 and "In progress" in page.text
        assert time.monotonic() - started < 5
        # Starting a job with the broker down records it: no 500, the job is listed as In progress.
        response = browser.post(f"{portal.url}/api/v1/protected-items/{second.pk}/backup", headers=auth, timeout=30)
        assert response.status_code in (200, 201, 202), response.text
        waiting = Job.objects.get(operation=Operation.BACKUP, item_id=second.vm_id)
        assert waiting.status == JobStatus.IN_PROGRESS and waiting.claimed_at is None
        page = browser.get(jobs_page, timeout=30)
        assert page.status_code == 200 and page.text.count("In progress") >= 1
        assert browser.get(f"{portal.url}/vaults/{vault.pk}/dashboard/", timeout=30).status_code == 200
        # The backup that was running finishes: its worker reports through the database, not the broker.
        assert final(running).status == JobStatus.COMPLETED, running.error_message

        # Redis returns (empty: it kept nothing). The requeue task (beat, every minute) sends the unclaimed job.
        redis.start()
        # The worker held the running backup's message when Redis went away: it must have outlived the outage.
        assert worker.poll() is None, worker.log_path.read_text()[-3000:]
        assert "Unrecoverable error" not in worker.log_path.read_text()
        out = manage("shell", "-c", "from backup.jobs.services import requeue_unclaimed; print(requeue_unclaimed(0))",
                     env=env)
        # The waiting backup, and the Prune job the worker could not queue after the first backup.
        assert int(out.split()[-1]) >= 1
        assert final(waiting, timeout=120).status == JobStatus.COMPLETED, waiting.error_message
        for job in Job.objects.all():
            assert final(job).status == JobStatus.COMPLETED, (job.operation, job.error_message)
    finally:
        stop_worker(worker)
        portal.stop()
        redis.stop()
    store = engine.Store.open(vault.store_path)
    assert len(store.list_manifests()) == 2 and engine.verify(store).ok


def test_the_requeue_task_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["requeue-unclaimed-jobs"]
    assert entry["task"] == "backup.jobs.tasks.requeue_unclaimed_jobs" and entry["schedule"] <= 300


@pytest.mark.django_db(transaction=False)
def test_requeue_sends_only_active_jobs_no_worker_has_claimed_for_a_while(alpha, monkeypatch):
    from datetime import timedelta
    from types import SimpleNamespace

    from django.utils import timezone

    from backup.jobs import services as jobs
    from backup.jobs import tasks as job_tasks

    sent = []
    monkeypatch.setattr(job_tasks, "run_job", SimpleNamespace(delay=sent.append))
    old = timezone.now() - timedelta(minutes=10)
    waiting = Job.objects.create(subscription=alpha, operation=Operation.BACKUP, started_at=old)
    Job.objects.create(subscription=alpha, operation=Operation.BACKUP, started_at=old, claimed_at=old)
    Job.objects.create(subscription=alpha, operation=Operation.BACKUP, started_at=old, status=JobStatus.COMPLETED)
    Job.objects.create(subscription=alpha, operation=Operation.BACKUP)  # just queued: leave it alone
    assert jobs.requeue_unclaimed(older_than_s=60) == 1 and sent == [waiting.pk]

    def broker_down(job_id):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(job_tasks, "run_job", SimpleNamespace(delay=broker_down))
    assert jobs.requeue_unclaimed(older_than_s=60) == 0  # logged, retried at the next beat tick
    assert jobs.enqueue(waiting.pk) is False


@pytest.fixture(params=["redis", "rabbitmq"])
def private_broker(request):
    if request.param == "rabbitmq" and not os.access(RABBITMQ_SERVER, os.X_OK):
        pytest.skip(f"{RABBITMQ_SERVER} is not installed")
    broker = Redis() if request.param == "redis" else RabbitMQ()
    broker.start()
    yield broker
    broker.remove() if isinstance(broker, RabbitMQ) else broker.stop()


def _connections(worker) -> int:
    return worker.log_path.read_text().count("Connected to ")


@pytest.mark.own_broker
def test_a_worker_outlives_a_minute_without_its_broker_and_every_job_completes(alice, alpha, private_broker,
                                                                                monkeypatch):
    broker = private_broker
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-outage-{type(broker).__name__.lower()}"
    own_broker(monkeypatch, broker.url, queue)
    env = {"CELERY_BROKER_URL": broker.url, "CELERY_TASK_DEFAULT_QUEUE": queue, "BACKUP_TEST_THROTTLE_S": "0.3"}
    vault = make_vault(alpha)
    held, *later = (make_protected_item(alpha, vault, os_mib=6, data_mib=2), make_protected_item(alpha, vault),
                    make_protected_item(alpha, vault))
    # Two processes, one job: the worker holds the backup's message (acked late) and keeps asking the broker for
    # more, as a worker with spare capacity always does; that is when losing the broker used to kill it.
    worker = start_worker(f"outage-{type(broker).__name__.lower()}", Path(settings.VAR_DIR) / "logs",
                          extra_env=env, concurrency=2)
    try:
        running = backups.back_up_now(held, alice)
        wait_for(lambda: Job.objects.get(pk=running.pk).bytes_done > 0, timeout=60, message="the transfer")

        broker.stop()
        down_since = time.monotonic()
        started_meanwhile = [backups.back_up_now(item, alice) for item in later]  # recorded, not sent
        assert all(job.status == JobStatus.IN_PROGRESS for job in started_meanwhile)
        while time.monotonic() - down_since < OUTAGE_S:
            assert worker.poll() is None, f"the worker exited:\n{worker.log_path.read_text()[-3000:]}"
            time.sleep(1)
        assert final(running).status == JobStatus.COMPLETED, running.error_message  # reported through the database

        connected = _connections(worker)
        broker.start()
        # Celery's reconnect backoff is at most 30 s between attempts.
        wait_for(lambda: _connections(worker) > connected, timeout=60, message="the worker to reconnect")
        assert worker.poll() is None and "Unrecoverable error" not in worker.log_path.read_text()

        def settled():
            jobs.requeue_unclaimed(0)  # what beat does every minute
            return not Job.objects.filter(status__in=ACTIVE_STATUSES).exists()

        wait_for(settled, timeout=180, interval=5, message="every job to end")
        assert Job.objects.filter(operation=Operation.BACKUP).count() == 3
        for job in Job.objects.all():
            assert job.status == JobStatus.COMPLETED, (job.operation, job.error_message)
        assert worker.poll() is None, "the same worker ran every job"
    finally:
        stop_worker(worker)
    store = engine.Store.open(vault.store_path)
    assert len(store.list_manifests()) == 3 and engine.verify(store).ok


@pytest.mark.own_broker
def test_a_scheduled_task_that_falls_due_while_the_broker_is_down_is_sent_when_it_is_back():
    """A policy's daily backup is a beat entry: dropping it because the broker blipped at 22:00 would skip a day."""
    from datetime import timedelta

    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    redis = Redis().start()
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-beat"
    env = {"CELERY_BROKER_URL": redis.url, "CELERY_TASK_DEFAULT_QUEUE": queue}
    logs = Path(settings.VAR_DIR) / "logs"
    beat_log = open(logs / "beat-outage.log", "w")  # noqa: SIM115 - closed below
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
                             "--max-interval", "1"], cwd=settings.BASE_DIR, env=worker_env() | env,
                            stdout=beat_log, stderr=subprocess.STDOUT)
    worker = None
    try:
        # Task names nobody registers: the worker names them when they arrive. The first one connects beat to
        # the broker, as a beat that has been running for a while is.
        hourly, _ = IntervalSchedule.objects.get_or_create(every=3600, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(name="outage-warm-up", task="portal.outage_warm_up", interval=hourly,
                                    start_time=timezone.now())
        wait_for(lambda: "outage-warm-up" in (logs / "beat-outage.log").read_text(), timeout=30,
                 message="beat to send its first task")
        time.sleep(1)
        redis.stop()
        # Due in two seconds, then hourly.
        PeriodicTask.objects.create(name="outage-probe", task="portal.outage_probe", interval=hourly,
                                    start_time=timezone.now() + timedelta(seconds=2))
        wait_for(lambda: "outage-probe" in (logs / "beat-outage.log").read_text(), timeout=60,
                 message="beat to find the probe due with the broker down")
        time.sleep(3)
        redis.start()
        worker = start_worker("beat-outage", logs, extra_env=env)
        wait_for(lambda: "portal.outage_probe" in worker.log_path.read_text(), timeout=30,
                 message="the probe, sent late, to reach a worker")
        assert beat.poll() is None
    finally:
        if worker is not None:
            stop_worker(worker)
        beat.terminate()
        beat.wait(timeout=20)
        beat_log.close()
        redis.stop()
