"""Verify, garbage collection, recovery points and the jobs list/retry in the API: members only."""

import pytest
from django.utils import timezone

from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults.models import Vault
from backup.vms.models import RecoveryPoint
from tests.factories import make_vault


@pytest.fixture
def vault(alpha):
    return make_vault(alpha, name="Payroll")


@pytest.fixture
def point(vault):
    return RecoveryPoint.objects.create(vault=vault, vm_name="web01", point_id="job-7", created_at=timezone.now(),
                                        consistency="crash")


def test_member_starts_verify_and_gc_jobs(client, alice, vault, point, api_headers):
    headers = api_headers(alice)
    verify = client.post(f"/api/v1/vaults/{vault.pk}/verify", headers=headers)
    assert verify.status_code == 202 and verify.json()["operation"] == "verify"
    busy = client.post(f"/api/v1/recovery-points/{point.pk}/verify", headers=headers)
    assert busy.status_code == 202 and busy.json()["status"] == "failed"  # one verify per vault at a time
    gc = client.post(f"/api/v1/vaults/{vault.pk}/gc", headers=headers)
    assert gc.status_code == 202 and gc.json()["operation"] == "garbage_collection"
    [listed] = client.get(f"/api/v1/vaults/{vault.pk}/recovery-points", headers=headers).json()
    assert listed["point_id"] == "job-7"


def test_an_inactive_vault_is_refused_with_409(client, alice, vault, api_headers):
    Vault.objects.filter(pk=vault.pk).update(status=Vault.Status.CREATING)
    response = client.post(f"/api/v1/vaults/{vault.pk}/gc", headers=api_headers(alice))
    assert response.status_code == 409
    assert "not active" in response.json()["detail"]


def test_outsiders_get_404_and_anonymous_401(client, charlie, vault, point, api_headers):
    for url in (f"/api/v1/vaults/{vault.pk}/verify", f"/api/v1/recovery-points/{point.pk}/verify",
                f"/api/v1/vaults/{vault.pk}/gc"):
        assert client.post(url, headers=api_headers(charlie)).status_code == 404
        assert client.post(url).status_code == 401
    assert client.get(f"/api/v1/vaults/{vault.pk}/recovery-points", headers=api_headers(charlie)).status_code == 404


def test_jobs_list_and_retry(client, alice, charlie, alpha, api_headers):
    failed = Job.objects.create(subscription=alpha, operation=Operation.GARBAGE_COLLECTION, status=JobStatus.FAILED,
                                ended_at=timezone.now())
    listed = client.get("/api/v1/jobs?status=failed", headers=api_headers(alice)).json()
    assert [j["id"] for j in listed] == [failed.pk]
    assert client.get("/api/v1/jobs", headers=api_headers(charlie)).json() == []
    retried = client.post(f"/api/v1/jobs/{failed.pk}/retry", headers=api_headers(alice))
    assert retried.status_code == 202 and retried.json()["id"] != failed.pk
    assert client.post(f"/api/v1/jobs/{retried.json()['id']}/retry", headers=api_headers(alice)).status_code == 409
    assert client.post(f"/api/v1/jobs/{failed.pk}/retry", headers=api_headers(charlie)).status_code == 404
