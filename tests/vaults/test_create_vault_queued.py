"""Vault creation is a job like the others: recorded first, so a broker outage never loses a vault."""

import importlib
import os
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from backup.jobs import runner
from backup.jobs import services as jobs
from backup.jobs.models import Job, JobStatus, Operation
from backup.notifications.models import Notification
from backup.vaults import services
from backup.vaults.models import Vault
from portal.celery import app as celery_app
from tests.faults.helpers import final, free_port


def _forget_broker_connections() -> None:
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker_refusing_connections():
    """The portal's Celery app points at a Redis port nothing listens on, as when the broker is stopped."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.broker_transport_options, os.environ.get("CELERY_BROKER_URL")
    down = f"redis://127.0.0.1:{free_port()}/0"
    # Celery reads CELERY_BROKER_URL from the environment before its own setting, so both are pointed away.
    conf.broker_url, conf.broker_transport_options = down, {}
    os.environ["CELERY_BROKER_URL"] = down
    _forget_broker_connections()
    try:
        yield
    finally:
        conf.broker_url, conf.broker_transport_options = saved[:2]
        if saved[2] is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved[2]
        _forget_broker_connections()


def _post_vault(client, headers, subscription, name="Payroll"):
    return client.post("/api/v1/vaults", {"name": name, "region": "West US", "subscription_id": subscription.pk},
                       content_type="application/json", headers=headers)


@pytest.mark.django_db(transaction=True)
def test_creating_a_vault_with_the_broker_down_answers_201_and_keeps_its_job(client, alice, alpha, api_headers):
    headers = api_headers(alice)
    with broker_refusing_connections():
        response = _post_vault(client, headers, alpha)
    assert response.status_code == 201, response.content
    vault = Vault.objects.get(pk=response.json()["id"])
    assert vault.status == Vault.Status.CREATING
    job = Job.objects.get(operation=Operation.CREATE_VAULT, vault_id=vault.pk)
    assert job.status == JobStatus.IN_PROGRESS and job.claimed_at is None
    assert Notification.objects.get(user=alice, key=f"vault-create-{vault.pk}").title == (
        "Creating backup vault 'Payroll'…")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_vault_created_while_the_broker_was_down_becomes_active_once_it_is_requeued(
    celery_worker, client, alice, alpha, api_headers
):
    headers = api_headers(alice)
    with broker_refusing_connections():
        response = _post_vault(client, headers, alpha)
        assert response.status_code == 201, response.content
        assert jobs.requeue_unclaimed(older_than_s=0) == 0  # still down: kept for the next beat tick
    vault = Vault.objects.get(pk=response.json()["id"])
    job = Job.objects.get(operation=Operation.CREATE_VAULT, vault_id=vault.pk)
    assert jobs.requeue_unclaimed(older_than_s=0) == 1
    assert final(job, timeout=60).status == JobStatus.COMPLETED, job.error_message
    vault.refresh_from_db()
    assert vault.status == Vault.Status.ACTIVE and vault.store_path.is_dir()
    assert job.subtasks.get().name == services.STEP_INITIALISE_STORE
    note = Notification.objects.get(user=alice, key=f"vault-create-{vault.pk}")
    assert note.level == Notification.Level.SUCCESS
    page = client.get(f"/api/v1/vaults/{vault.pk}", headers=headers)
    assert page.json()["status"] == "active"


def _run(job: Job) -> Job:
    runner.run(job.pk)
    job.refresh_from_db()
    return job


def test_the_create_vault_job_fails_with_the_vault_when_its_storage_cannot_be_made(alice, alpha, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the storage root should be")
    settings.VAULT_STORAGE_ROOT = blocker
    vault = services.create_vault(user=alice, subscription=alpha, name="Payroll", region="West US")
    job = _run(Job.objects.get(operation=Operation.CREATE_VAULT, vault_id=vault.pk))
    vault.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "VaultStorageNotInitialised"
    assert vault.status == Vault.Status.FAILED and vault.status_reason == job.error_message
    assert str(tmp_path) not in job.error_message and "/" not in job.error_message


def test_an_unexpected_error_fails_the_vault_too(alice, alpha, monkeypatch):
    vault = services.create_vault(user=alice, subscription=alpha, name="Payroll", region="West US")

    def broken(vault_id):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "provision_vault", broken)
    job = _run(Job.objects.get(operation=Operation.CREATE_VAULT, vault_id=vault.pk))
    vault.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "InternalError"
    assert vault.status == Vault.Status.FAILED
    assert Notification.objects.get(user=alice, key=f"vault-create-{vault.pk}").level == Notification.Level.ERROR


def test_a_create_vault_job_whose_worker_was_lost_fails_the_vault(alice, alpha, settings):
    vault = services.create_vault(user=alice, subscription=alpha, name="Payroll", region="West US")
    stale = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_S + 60)
    Job.objects.filter(operation=Operation.CREATE_VAULT, vault_id=vault.pk).update(claimed_at=stale,
                                                                                    heartbeat_at=stale)
    assert runner.reap_lost_jobs() == 1
    vault.refresh_from_db()
    assert vault.status == Vault.Status.FAILED and "stopped before the job finished" in vault.status_reason


def test_vaults_left_creating_before_the_upgrade_get_a_job_the_requeue_task_sends(alpha):
    stuck = Vault.objects.create(subscription=alpha, name="Stuck", region="West US")
    Vault.objects.create(subscription=alpha, name="Fine", region="West US", status=Vault.Status.ACTIVE)
    migration = importlib.import_module("backup.vaults.migrations.0002_queue_stuck_vault_creations")
    migration.queue_stuck_creations(apps, None)
    migration.queue_stuck_creations(apps, None)  # twice: still one job
    job = Job.objects.get(operation=Operation.CREATE_VAULT)
    assert (job.vault_id, job.status, job.claimed_at) == (stuck.pk, JobStatus.IN_PROGRESS, None)
    assert job.started_at == stuck.created_at


@pytest.mark.django_db(transaction=True)
def test_a_vault_a_worker_provisions_at_once_keeps_its_success_toast(alice, alpha, monkeypatch):
    # The worker takes the job the moment the vault is committed, before the request has answered.
    monkeypatch.setattr("backup.jobs.tasks.run_job.delay", runner.run)
    vault = services.create_vault(user=alice, subscription=alpha, name="Payroll", region="West US")
    vault.refresh_from_db()
    assert vault.status == Vault.Status.ACTIVE
    note = Notification.objects.get(user=alice, key=f"vault-create-{vault.pk}")
    assert (note.level, note.title) == (Notification.Level.SUCCESS, "Successfully created backup vault 'Payroll'")
