import pytest
from django.urls import reverse
from django.utils import timezone

from backup.jobs.models import Job, JobStatus, Operation


@pytest.fixture
def jobs(alpha):
    now = timezone.now()
    Job.objects.create(subscription=alpha, operation=Operation.BACKUP, status=JobStatus.COMPLETED,
                       started_at=now - timezone.timedelta(seconds=42), ended_at=now,
                       result={"backup_size_bytes": 1000})
    Job.objects.create(subscription=alpha, operation=Operation.BACKUP, status=JobStatus.FAILED,
                       started_at=now - timezone.timedelta(seconds=3), ended_at=now)
    Job.objects.create(subscription=alpha, operation=Operation.VERIFY)


def test_metrics_need_the_token_when_one_is_set(client, settings, jobs):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get(reverse("metrics")).status_code == 401
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer s3cret")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'backup_jobs_started_total{operation="backup"} 2.0' in text
    assert 'backup_jobs_completed_total{operation="backup"} 1.0' in text
    assert 'backup_jobs_failed_total{operation="backup"} 1.0' in text
    assert 'backup_jobs_in_progress{operation="verify"} 1.0' in text
    assert 'backup_job_duration_seconds_bucket{le="5.0",operation="backup"} 1.0' in text
    assert 'backup_job_duration_seconds_bucket{le="60.0",operation="backup"} 2.0' in text
    assert "backup_bytes_transferred_total 1000.0" in text
    assert "backup_queue_length" in text
    assert "portal_http_request_duration_seconds_bucket" in text


def test_metrics_are_hidden_in_production_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    assert client.get(reverse("metrics")).status_code == 404


def test_metrics_are_open_when_debugging_without_a_token(client, settings, db):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    assert client.get(reverse("metrics")).status_code == 200


def test_store_bytes_per_vault(client, settings, alpha):
    from tests.factories import make_vault

    vault = make_vault(alpha, name="Metered")
    settings.METRICS_TOKEN = "t"
    text = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer t").content.decode()
    assert f'backup_store_bytes{{vault="Metered",vault_id="{vault.pk}"}}' in text
