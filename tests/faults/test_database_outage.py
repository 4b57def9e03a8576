"""The database drops a worker's connections in the middle of a backup (PostgreSQL terminates its backends,
as on a restart or a fail-over): the job ends Failed saying so, not "the worker stopped", nothing half-made is
kept, and the same worker runs the next backup."""

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from backup import engine
from backup.jobs import errors
from backup.jobs.models import Job, JobStatus
from backup.vms.models import ProtectedItem, RecoveryPoint
from backup.vms.services import backup as backups
from tests.factories import make_protected_item
from tests.faults.helpers import final, own_queue
from tests.worker import start_worker, stop_worker, wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="terminating backends needs PostgreSQL (set DATABASE_URL to a private database)"),
]


def _terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_backup_whose_database_connections_are_terminated_fails_saying_so(alice, alpha, monkeypatch, settings):
    queue = f"{django_settings.CELERY_TASK_DEFAULT_QUEUE}-dbdrop"
    own_queue(monkeypatch, queue)
    env = {"CELERY_TASK_DEFAULT_QUEUE": queue, "BACKUP_TEST_THROTTLE_S": "0.3",
           "PYTHONPATH": str(django_settings.BASE_DIR)}
    worker = start_worker("dbdrop", Path(django_settings.VAR_DIR) / "logs", extra_env=env)
    try:
        item = make_protected_item(alpha, os_mib=12, data_mib=4)
        job = backups.back_up_now(item, alice)
        wait_for(lambda: Job.objects.get(pk=job.pk).bytes_done > 0, timeout=60, message="the transfer to start")
        assert _terminate_other_backends() >= 1
        job = final(job, timeout=60)
        assert job.status == JobStatus.FAILED
        assert job.error_message == errors.DATABASE_LOST and job.error_code == "DatabaseConnectionLost"
        assert job.recommended_action == errors.DATABASE_LOST_ACTION
        assert not RecoveryPoint.objects.filter(protected_item=item).exists()
        store = engine.Store.open(item.vault.store_path)
        assert store.list_manifests() == [] and not os.listdir(store.leases_dir)
        # The failed backup's chunks went with it, and the worker carries on with new connections.
        assert store.stats().chunk_count == 0
        following = final(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), alice))
        assert following.status == JobStatus.COMPLETED, following.error_message
    finally:
        stop_worker(worker)
