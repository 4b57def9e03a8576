"""A job whose database connection drops mid-run (database restarted, backend terminated) ends Failed
with that reason, not "the worker stopped", and the worker goes on with a fresh connection."""

import pytest
from django.db import connection

from backup.jobs import errors, runner
from backup.jobs import services as jobs_services
from backup.jobs.models import Job, JobStatus
from backup.vms.models import ProtectedItem, RecoveryPoint
from backup.vms.services import backup as backups
from tests.factories import make_protected_item

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="terminating a backend needs PostgreSQL (set DATABASE_URL to a private database)"),
]


def _terminate_own_backend() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    except Exception:  # PostgreSQL may already answer the terminating query with the error
        pass


def _dropping_the_connection_first(monkeypatch, name: str) -> None:
    real = getattr(backups, name)

    def dropped(*args, **kwargs):
        _terminate_own_backend()
        return real(*args, **kwargs)

    monkeypatch.setattr(backups, name, dropped)


def _run_backup(item, user) -> Job:
    # The job runs here, as a worker would run it; its message never reaches the broker, where a worker that an
    # earlier test of the session left consuming could claim it first.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs_services, "enqueue", lambda job_id: True)
        job = backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), user)
    runner.run(job.pk)
    return Job.objects.get(pk=job.pk)


def test_a_backup_whose_database_connection_is_terminated_fails_saying_so(alice, alpha, monkeypatch):
    item = make_protected_item(alpha)
    _dropping_the_connection_first(monkeypatch, "base_manifest")  # during the transfer, before any point
    job = _run_backup(item, alice)

    assert job.status == JobStatus.FAILED
    assert job.error_message == errors.DATABASE_LOST and job.error_message != errors.WORKER_LOST
    assert job.recommended_action == errors.DATABASE_LOST_ACTION and job.error_code == "DatabaseConnectionLost"
    assert not job.subtasks.filter(status=JobStatus.IN_PROGRESS).exists()
    assert not RecoveryPoint.objects.filter(protected_item=item).exists()
    # The reaper has nothing left to fail: the job was recorded by the runner itself.
    assert runner.reap_lost_jobs() == 0


def test_a_backup_that_loses_the_database_once_its_point_is_committed_records_the_point(alice, alpha, monkeypatch):
    item = make_protected_item(alpha)
    _dropping_the_connection_first(monkeypatch, "record_point")
    job = _run_backup(item, alice)

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.result["warning"] == backups.STOPPED_AFTER_POINT
    assert RecoveryPoint.objects.get(protected_item=item).point_id == f"job-{job.pk}"
