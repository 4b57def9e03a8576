"""Backups run by real Celery workers: on schedule, on demand, cancelled, killed, and two at once."""

import json
import os
import signal
import threading
import types
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection

from backup import engine
from backup.fabric.snapshots import list_snapshot_ids
from backup.jobs import errors, runner
from backup.jobs import services as jobs
from backup.jobs import tasks as job_tasks
from backup.jobs.models import Job, JobStatus, Operation
from backup.notifications.models import Notification
from backup.vms.models import ProtectedItem, RecoveryPoint
from backup.vms.services import backup as backups
from tests.factories import make_policy, make_protected_item, make_vault, make_vm, protect
from tests.worker import start_worker, stop_worker, wait_for

STEPS = ["Take Snapshot", "Transfer data to Backup vault", "Create recovery point", "Delete snapshot"]


def _final(job: Job, timeout: float = 90) -> Job:
    def done():
        job.refresh_from_db()
        return job.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

    wait_for(done, timeout=timeout, message=f"job {job.pk} to end")
    return job


def _steps(job: Job) -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in job.subtasks.all()]


def _no_snapshots_left(item: ProtectedItem) -> bool:
    return all(not list_snapshot_ids(d.path) for d in item.vm.disks.all())


def _own_queue(monkeypatch, queue: str) -> None:
    """Send this test's jobs to a dedicated worker only (the session worker consumes the default queue)."""
    real = job_tasks.run_job
    monkeypatch.setattr(job_tasks, "run_job",
                        types.SimpleNamespace(delay=lambda job_id: real.apply_async((job_id,), queue=queue)))


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (the prefork pool children), like a container kill."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_an_on_demand_backup(celery_worker, alice, alpha):
    item = make_protected_item(alpha)
    job = _final(backups.back_up_now(item, alice))
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert _steps(job) == [(name, JobStatus.COMPLETED) for name in STEPS]
    assert job.progress_percent == 100 and job.bytes_total > 0
    assert RecoveryPoint.objects.get(protected_item=item).point_id == f"job-{job.pk}"
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.PROTECTED
    # The user who started it got a toast that leads to the job's details.
    note = Notification.objects.get(user=alice, key=f"job-{job.pk}")
    assert note.level == Notification.Level.SUCCESS and note.link_label == "VIEW JOB"
    assert note.link_url == f"/jobs/{job.pk}/"
    # Retention pruning ran after it, as its own job.
    prune = Job.objects.get(operation=Operation.PRUNE)
    assert _final(prune).status == JobStatus.COMPLETED


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_scheduled_backup_at_the_policy_time(celery_worker, alice, alpha):
    from celery.schedules import crontab

    from backup.vms.services.policies import sync_schedule

    vault = make_vault(alpha)
    policy = make_policy(vault, time_of_day=time(22, 30), timezone="Europe/Paris")
    task = sync_schedule(policy)
    item = protect(vault, make_vm(alpha), policy)
    # The clock is the test's: beat asks the policy's crontab whether it is due at 22:30 Paris time.
    cron = task.crontab
    paris = ZoneInfo("Europe/Paris")
    at = datetime(2025, 3, 4, 22, 30, 5, tzinfo=paris)
    schedule = crontab(minute=cron.minute, hour=cron.hour, day_of_week=cron.day_of_week,
                       day_of_month=cron.day_of_month, month_of_year=cron.month_of_year, nowfun=lambda: at)
    schedule.tz = paris
    assert schedule.is_due(at - timedelta(days=1))[0]
    assert not crontab(minute=cron.minute, hour=cron.hour, nowfun=lambda: at - timedelta(hours=1)).is_due(
        at - timedelta(hours=2))[0]
    # ... and sends what the PeriodicTask names, as beat would.
    current_app.send_task(task.task, kwargs=json.loads(task.kwargs), queue=settings.CELERY_TASK_DEFAULT_QUEUE)

    job = wait_for(lambda: Job.objects.filter(operation=Operation.BACKUP).first(), message="the scheduled job")
    assert job.scheduled and job.created_by is None
    job = _final(job)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert _steps(job) == [(name, JobStatus.COMPLETED) for name in STEPS]
    assert RecoveryPoint.objects.filter(protected_item=item).count() == 1
    # A scheduled job notifies the subscription's members.
    assert Notification.objects.filter(user=alice, key=f"job-{job.pk}").exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_backups_requested_at_once_run_exactly_once(celery_worker, alice, alpha):
    item = make_protected_item(alpha)
    barrier = threading.Barrier(2)
    results = []

    def request():
        barrier.wait()
        try:
            results.append(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), alice).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = list(Job.objects.filter(pk__in=results).order_by("pk"))
    assert len(both) == 2
    refused = [j for j in both if j.status == JobStatus.FAILED]
    assert len(refused) == 1
    assert refused[0].error_message == errors.BACKUP_BUSY
    assert "Another operation is currently in progress on this item" in refused[0].error_message
    running = next(j for j in both if j.pk != refused[0].pk)
    assert _final(running).status == JobStatus.COMPLETED
    assert RecoveryPoint.objects.count() == 1
    assert not refused[0].subtasks.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_backup_keeps_no_point(alice, alpha, monkeypatch):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-cancel"
    _own_queue(monkeypatch, queue)
    worker = start_worker("cancel", Path(settings.VAR_DIR) / "logs",
                          extra_env={"CELERY_TASK_DEFAULT_QUEUE": queue, "BACKUP_TEST_THROTTLE_S": "0.5"})
    try:
        item = make_protected_item(alpha, os_mib=16, data_mib=8)
        job = backups.back_up_now(item, alice)

        def transferring():
            job.refresh_from_db()
            return job.bytes_done > 0

        wait_for(transferring, timeout=60, message="the transfer to start")
        jobs.request_cancel(job)
        job = _final(job)
    finally:
        stop_worker(worker)
    assert job.status == JobStatus.CANCELLED
    assert _steps(job) == [("Take Snapshot", "completed"), ("Transfer data to Backup vault", "cancelled"),
                           ("Delete snapshot", "completed")]
    assert not RecoveryPoint.objects.exists()
    store = engine.Store.open(item.vault.store_path)
    assert store.list_manifests() == [] and engine.verify(store).ok
    assert _no_snapshots_left(item)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_backup_whose_worker_is_killed_ends_failed_and_the_next_one_succeeds(alice, alpha, monkeypatch, settings):
    settings.JOB_HEARTBEAT_TIMEOUT_S = 3
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-kill"
    _own_queue(monkeypatch, queue)
    env = {"CELERY_TASK_DEFAULT_QUEUE": queue, "BACKUP_TEST_THROTTLE_S": "0.5", "JOB_HEARTBEAT_TIMEOUT_S": "3"}
    logs = Path(settings.VAR_DIR) / "logs"
    worker = start_worker("doomed", logs, extra_env=env)
    item = make_protected_item(alpha, os_mib=16, data_mib=8)
    job = backups.back_up_now(item, alice)

    def transferring():
        job.refresh_from_db()
        return job.bytes_done > 0

    try:
        wait_for(transferring, timeout=60, message="the transfer to start")
    finally:
        _kill_tree(worker.pid)
        worker.wait()
        worker.log_file.close()
    job.refresh_from_db()
    assert job.status == JobStatus.IN_PROGRESS  # killed mid-transfer

    # The reaper (beat, every 30 s) fails it once its heartbeat is older than the timeout.
    wait_for(lambda: runner.reap_lost_jobs() or Job.objects.get(pk=job.pk).status != JobStatus.IN_PROGRESS,
             timeout=20, interval=0.5, message="the reaper to fail the lost job")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message == errors.WORKER_LOST and job.recommended_action == errors.WORKER_LOST_ACTION
    assert not RecoveryPoint.objects.exists()
    store = engine.Store.open(item.vault.store_path)
    assert store.list_manifests() == []
    assert engine.verify(store).ok
    # The item reads "backup failing" until a backup succeeds, as after any failed backup.
    assert ProtectedItem.objects.get(pk=item.pk).status == ProtectedItem.Status.BACKUP_FAILING

    worker = start_worker("next", logs, extra_env=env | {"BACKUP_TEST_THROTTLE_S": "0"})
    try:
        following = _final(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), alice))
    finally:
        stop_worker(worker)
    assert following.status == JobStatus.COMPLETED, following.error_message
    assert engine.verify(store).ok
    assert _no_snapshots_left(item)  # the killed attempt's snapshot was removed by the next backup
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.PROTECTED
