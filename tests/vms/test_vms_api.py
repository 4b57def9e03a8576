"""The vms API: inventory, discover, register, protect, items and policies, through the same services."""

import pytest

from backup.jobs.models import Job, JobStatus
from backup.vms.models import BackupPolicy
from backup.vms.services import policies

from .helpers import make_vm, run_jobs
from .test_registration import IDS, LIMITATIONS


def post(client, headers, url, data=None):
    return client.post(url, data or {}, content_type="application/json", headers=headers)


@pytest.fixture
def auth(alice, api_headers):
    return api_headers(alice)


def register_through_api(client, auth, vault, vm) -> dict:
    r = post(client, auth, f"/api/v1/vaults/{vault.pk}/register", {"vm_ids": [vm.pk]})
    assert r.status_code == 202, r.content
    [job] = r.json()
    run_jobs(Job.objects.get(pk=job["id"]))
    return client.get(f"/api/v1/jobs/{job['id']}", headers=auth).json()


@pytest.mark.parametrize(("limitation", "fields"), LIMITATIONS, ids=IDS)
def test_api_register_reports_each_limitation(client, auth, alpha, vms_vault, limitation, fields):
    vm = make_vm(alpha, **fields)
    job = register_through_api(client, auth, vms_vault, vm)
    assert (job["status"], job["error_message"], job["recommended_action"]) == (
        "failed", limitation.message, limitation.recommended_action)
    items = client.get(f"/api/v1/vaults/{vms_vault.pk}/registered-items", headers=auth).json()
    assert [(i["vm_id"], i["status"], i["status_reason"]) for i in items] == [(vm.pk, "failed", limitation.message)]


def test_api_register_a_machine_of_another_region_is_a_field_error(client, auth, alpha, vms_vault):
    vm = make_vm(alpha, region="East US", files=False)
    r = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/register", {"vm_ids": [vm.pk]})
    assert r.status_code == 400 and "West US" in r.json()["errors"]["vm_ids"][0]


def test_api_register_twice_reports_another_operation_in_progress(client, auth, alpha, vms_vault):
    vm = make_vm(alpha, files=False)
    post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/register", {"vm_ids": [vm.pk]})
    [second] = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/register", {"vm_ids": [vm.pk]}).json()
    assert second["status"] == "failed"
    assert second["error_message"].startswith("Command execution failed - Another operation is in progress")


def test_api_discovery_is_single_flight(client, auth, alpha, vms_vault):
    make_vm(alpha, files=False)
    first = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/discover")
    second = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/discover")
    assert first.status_code == second.status_code == 202
    assert first.json()["status"] == "in_progress"
    assert second.json()["error_message"].startswith("Failed to discover new items \u2013 Another Discovery operation")
    run_jobs(Job.objects.get(pk=first.json()["id"]))
    items = client.get(f"/api/v1/vaults/{vms_vault.pk}/registered-items?status=not_registered", headers=auth).json()
    assert len(items) == 1


def test_api_registers_and_protects_with_a_new_policy(client, auth, alpha, vms_vault):
    vm = make_vm(alpha, name="web01", files=False)
    assert register_through_api(client, auth, vms_vault, vm)["status"] == "completed"
    policy = {"name": "Nightly", "frequency": "daily", "time_of_day": "21:10", "daily_retention_days": 14,
              "monthly_retention_months": 12}
    r = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/protect", {"vm_ids": [vm.pk], "policy": policy})
    assert r.status_code == 202, r.content
    run_jobs([Job.objects.get(pk=j["id"]) for j in r.json()["jobs"]])
    [item] = client.get(f"/api/v1/vaults/{vms_vault.pk}/protected-items", headers=auth).json()
    assert (item["name"], item["status"], item["policy"], item["recovery_points"]) == ("web01", "pending", "Nightly",
                                                                                       0)
    assert BackupPolicy.objects.get(name="Nightly").time_of_day.strftime("%H:%M") == "21:00"


def test_api_protect_with_an_existing_policy_and_refuses_a_second_policy(client, auth, alpha, vms_vault):
    policies.ensure_default_policy(vms_vault)  # what the Create Vault job gives a vault
    vm = make_vm(alpha, files=False)
    register_through_api(client, auth, vms_vault, vm)
    [default] = client.get(f"/api/v1/vaults/{vms_vault.pk}/policies", headers=auth).json()
    assert default["name"] == "DefaultPolicy"
    r = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/protect", {"vm_ids": [vm.pk], "policy_id": default["id"]})
    run_jobs([Job.objects.get(pk=j["id"]) for j in r.json()["jobs"]])
    r = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/protect", {"vm_ids": [vm.pk], "policy_id": default["id"]})
    assert r.status_code == 400 and "already protected" in r.json()["errors"]["vm_ids"][0]
    r = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/protect", {"vm_ids": [vm.pk]})
    assert r.status_code == 400 and "policy_id" in r.json()["errors"]


def test_api_policies_crud_with_field_errors(client, auth, vms_vault):
    base = f"/api/v1/vaults/{vms_vault.pk}/policies"
    bad = post(client, auth, base, {"name": "Nightly", "daily_retention_days": 500, "yearly_retention_years": 100})
    assert bad.status_code == 400
    assert "1 to 366 days" in bad.json()["errors"]["daily_retention_days"][0]
    assert "1 to 99 years" in bad.json()["errors"]["yearly_retention_years"][0]
    created = post(client, auth, base, {"name": "Nightly", "daily_retention_days": 7, "timezone": "Asia/Tokyo"})
    assert created.status_code == 201
    clash = post(client, auth, base, {"name": "nightly", "daily_retention_days": 7})
    assert clash.json()["errors"]["name"] == ["A protection policy with the specified name already exists."]
    pid = created.json()["id"]
    r = client.put(f"{base}/{pid}", {"name": "Nightly", "frequency": "weekly", "days_of_week": [6],
                                     "weekly_retention_weeks": 4}, content_type="application/json", headers=auth)
    assert r.status_code == 200, r.content
    assert client.get(f"{base}/{pid}", headers=auth).json()["frequency"] == "weekly"
    assert client.delete(f"{base}/{pid}", headers=auth).status_code == 204
    assert client.get(f"{base}/{pid}", headers=auth).status_code == 404


def test_api_refuses_to_delete_a_policy_in_use(client, auth, alpha, vms_vault):
    policies.ensure_default_policy(vms_vault)  # what the Create Vault job gives a vault
    vm = make_vm(alpha, name="payroll-db", files=False)
    register_through_api(client, auth, vms_vault, vm)
    [default] = client.get(f"/api/v1/vaults/{vms_vault.pk}/policies", headers=auth).json()
    r = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/protect", {"vm_ids": [vm.pk], "policy_id": default["id"]})
    run_jobs([Job.objects.get(pk=j["id"]) for j in r.json()["jobs"]])
    r = client.delete(f"/api/v1/vaults/{vms_vault.pk}/policies/{default['id']}", headers=auth)
    assert r.status_code == 400 and "payroll-db" in r.json()["detail"]


def test_api_lists_only_the_users_inventory(client, alice, charlie, api_headers, alpha, gamma):
    mine = make_vm(alpha, name="mine")
    make_vm(gamma, name="theirs", files=False)
    vms = client.get("/api/v1/vms", headers=api_headers(alice)).json()
    assert [v["name"] for v in vms] == ["mine"]
    assert vms[0]["cloud_service"] == mine.cloud_service.name and vms[0]["region"] == "West US"
    services = client.get("/api/v1/cloud-services", headers=api_headers(alice)).json()
    assert [s["vm_count"] for s in services] == [1]
    [account] = client.get("/api/v1/storage-accounts", headers=api_headers(alice)).json()
    assert 0 < account["used_bytes"] < 8 << 20
    assert [v["name"] for v in client.get("/api/v1/vms", headers=api_headers(charlie)).json()] == ["theirs"]


def test_jobs_started_through_the_api_are_real_jobs(client, auth, alpha, vms_vault):
    vm = make_vm(alpha, files=False)
    [job] = post(client, auth, f"/api/v1/vaults/{vms_vault.pk}/register", {"vm_ids": [vm.pk]}).json()
    assert Job.objects.get(pk=job["id"]).status == JobStatus.IN_PROGRESS
