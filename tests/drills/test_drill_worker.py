"""A drill whose worker is SIGKILLed mid-restore: the reaper ends it, its clean-up empties the sandbox, and the
failed drill raises an alert."""

from pathlib import Path

import pytest

from backup.alerts.models import Alert, Kind
from backup.drills import services as drills
from backup.drills.models import DrillPlan
from backup.jobs import errors, runner
from backup.jobs.models import Job, JobStatus
from backup.vms.models import StorageAccount
from backup.vms.services import backup as backups
from tests.factories import make_protected_item
from tests.vms.test_backup_worker import _kill_tree, _own_queue
from tests.worker import start_worker, wait_for


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_drill_killed_mid_restore_leaves_nothing_in_the_sandbox_and_raises_an_alert(alice, alpha, monkeypatch,
                                                                                      settings):
    settings.JOB_HEARTBEAT_TIMEOUT_S = 3
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-drill"
    _own_queue(monkeypatch, queue)
    env = {"CELERY_TASK_DEFAULT_QUEUE": queue, "FAULT_SLOW_CHUNK_READ_S": "0.3", "JOB_HEARTBEAT_TIMEOUT_S": "3"}
    worker = start_worker("drill-doomed", Path(settings.VAR_DIR) / "logs", extra_env=env)
    try:
        item = make_protected_item(alpha, os_mib=8, data_mib=4)
        backup = backups.back_up_now(item, alice)
        wait_for(lambda: Job.objects.get(pk=backup.pk).status == JobStatus.COMPLETED, timeout=90,
                 message="the backup")
        sandbox = StorageAccount.objects.create(subscription=alpha, name="killsandbox", region="West US")
        plan = DrillPlan.objects.create(vault=item.vault, name="Killed drill", sandbox_account=sandbox)
        job = drills.start_drill(plan, user=alice)
        wait_for(lambda: list(sandbox.folder.glob(f"drill-{job.pk}-*.vhd")) if sandbox.folder.exists() else [],
                 timeout=60, interval=0.1, message="the drill to restore into the sandbox")
    finally:
        _kill_tree(worker.pid)
        worker.wait()
        worker.log_file.close()
    assert Job.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS
    assert list(sandbox.folder.glob("drill-*"))  # the killed restore's files are still there

    wait_for(lambda: runner.reap_lost_jobs() or Job.objects.get(pk=job.pk).status != JobStatus.IN_PROGRESS,
             timeout=20, interval=0.5, message="the reaper to fail the lost drill")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_message == errors.WORKER_LOST
    assert list(sandbox.folder.glob("*")) == []
    alert = Alert.objects.get(kind=Kind.DRILL_FAILED)
    assert alert.job_id == job.pk and alert.state == "active"
