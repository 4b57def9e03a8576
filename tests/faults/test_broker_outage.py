"""Redis stops while the portal and a worker run on it: pages keep answering, a job started meanwhile is recorded
(not a 500), and everything queued completes once Redis is back (the requeue task sends what never reached it)."""

import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from backup import engine
from backup.jobs.models import Job, JobStatus, Operation
from tests.conftest import PASSWORD
from tests.factories import make_protected_item, make_vault
from tests.faults.helpers import Portal, Redis, _kill_tree, final, manage
from tests.worker import start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


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
        if "Unrecoverable error" in worker.log_path.read_text():
            # Celery 5.7's worker gives up on a lost Redis connection while it holds an unacknowledged message
            # ("Unrecoverable error: 'NoneType' object has no attribute 'hostname'", a kombu bug) and exits;
            # systemd restarts it (deploy/systemd/portal-worker.service: Restart=always), and so does this test.
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _kill_tree(worker.pid)
                worker.wait()
                print("the worker hung after its unrecoverable error and was killed")
            worker.log_file.close()
            worker = start_worker("broker-restarted", logs, extra_env=env)
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
