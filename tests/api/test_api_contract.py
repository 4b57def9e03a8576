"""What API clients rely on, whatever module an operation's code lives in: its path, its method and its
operation id (clients generated from /api/v1/openapi.json call operations by id), and one error body."""

import pytest

from backup.vaults.models import Vault

PUBLISHED = {
    ('DELETE', '/vaults/{vault_id}', 'backup_vms_api_manage_delete_vault'),
    ('DELETE', '/vaults/{vault_id}/policies/{policy_id}', 'backup_vms_api_delete_policy'),
    ('GET', '/cloud-services', 'backup_vms_api_list_cloud_services'),
    ('GET', '/jobs', 'backup_jobs_api_list_jobs'),
    ('GET', '/jobs/{job_id}', 'backup_jobs_api_get_job'),
    ('GET', '/notifications', 'backup_notifications_api_list_notifications'),
    ('GET', '/storage-accounts', 'backup_vms_api_list_storage_accounts'),
    ('GET', '/subscriptions', 'backup_tenancy_api_list_subscriptions'),
    ('GET', '/subscriptions/{subscription_id}/bills/{month}', 'backup_billing_api_get_bill'),
    ('GET', '/subscriptions/{subscription_id}/usage', 'backup_billing_api_list_usage'),
    ('GET', '/vaults', 'backup_vaults_api_list_vaults'),
    ('GET', '/vaults/{vault_id}', 'backup_vaults_api_get_vault'),
    ('GET', '/vaults/{vault_id}/jobs', 'backup_vms_api_backup_vault_jobs'),
    ('GET', '/vaults/{vault_id}/policies', 'backup_vms_api_list_policies'),
    ('GET', '/vaults/{vault_id}/policies/{policy_id}', 'backup_vms_api_get_policy'),
    ('GET', '/vaults/{vault_id}/protected-items', 'backup_vms_api_list_protected_items'),
    ('GET', '/vaults/{vault_id}/recovery-points', 'backup_vms_api_operations_list_recovery_points'),
    ('GET', '/vaults/{vault_id}/registered-items', 'backup_vms_api_list_registered_items'),
    ('GET', '/vms', 'backup_vms_api_list_vms'),
    ('POST', '/jobs/{job_id}/cancel', 'backup_jobs_api_cancel_job'),
    ('POST', '/jobs/{job_id}/retry', 'backup_jobs_api_retry_job'),
    ('POST', '/protected-items/{item_id}/backup', 'backup_vms_api_backup_back_up_now'),
    ('POST', '/protected-items/{item_id}/delete-backup-data', 'backup_vms_api_manage_delete_backup_data'),
    ('POST', '/protected-items/{item_id}/restore', 'backup_vms_api_manage_restore_item'),
    ('POST', '/protected-items/{item_id}/resume', 'backup_vms_api_manage_resume_protection'),
    ('POST', '/protected-items/{item_id}/stop-protection', 'backup_vms_api_manage_stop_protection'),
    ('POST', '/recovery-points/{point_id}/verify', 'backup_vms_api_operations_verify_recovery_point'),
    ('POST', '/registered-items/{item_id}/unregister', 'backup_vms_api_manage_unregister'),
    ('POST', '/vaults', 'backup_vaults_api_create_vault'),
    ('POST', '/vaults/{vault_id}/discover', 'backup_vms_api_discover'),
    ('POST', '/vaults/{vault_id}/gc', 'backup_vms_api_operations_collect_garbage'),
    ('POST', '/vaults/{vault_id}/policies', 'backup_vms_api_create_policy'),
    ('POST', '/vaults/{vault_id}/protect', 'backup_vms_api_protect'),
    ('POST', '/vaults/{vault_id}/register', 'backup_vms_api_register'),
    ('POST', '/vaults/{vault_id}/verify', 'backup_vms_api_operations_verify_vault'),
    ('PUT', '/vaults/{vault_id}/policies/{policy_id}', 'backup_vms_api_update_policy'),
    ('PUT', '/vaults/{vault_id}/redundancy', 'backup_vaults_api_set_redundancy'),
}


def test_every_published_operation_keeps_its_path_and_operation_id(client):
    schema = client.get("/api/v1/openapi.json").json()
    served = {(method.upper(), path.removeprefix("/api/v1"), operation["operationId"])
              for path, operations in schema["paths"].items() for method, operation in operations.items()}
    assert PUBLISHED - served == set()


@pytest.fixture
def vault(alpha):
    return Vault.objects.create(subscription=alpha, name="Payroll", region="West US", status=Vault.Status.ACTIVE)


def test_a_refused_operation_answers_409_with_the_detail_alone(client, alice, vault, api_headers):
    Vault.objects.filter(pk=vault.pk).update(status=Vault.Status.CREATING)
    response = client.post(f"/api/v1/vaults/{vault.pk}/gc", headers=api_headers(alice))
    assert response.status_code == 409
    body = response.json()
    assert list(body) == ["detail"] and "not active" in body["detail"]


def test_bad_fields_answer_400_with_the_messages_by_field(client, alice, alpha, api_headers):
    response = client.post("/api/v1/vaults", {"name": "x", "region": "West US", "subscription_id": alpha.pk},
                           content_type="application/json", headers=api_headers(alice))
    assert response.status_code == 400
    body = response.json()
    assert body == {"detail": body["errors"]["name"][0], "errors": {"name": [body["detail"]]}}
    assert "between 2 and 50" in body["detail"]


def test_bad_job_filters_answer_400_with_the_messages_by_field(client, alice, vault, api_headers):
    response = client.get(f"/api/v1/vaults/{vault.pk}/jobs?status=nonsense", headers=api_headers(alice))
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["detail"] == body["errors"]["status"][0]


def test_the_vault_path_serves_both_the_vaults_get_and_the_vms_delete(client, alice, vault, api_headers):
    headers = api_headers(alice)
    assert client.get(f"/api/v1/vaults/{vault.pk}", headers=headers).json()["name"] == "Payroll"
    deleted = client.delete(f"/api/v1/vaults/{vault.pk}", headers=headers)
    assert deleted.status_code == 202 and deleted.json()["operation"] == "delete_vault"
