"""Stop protection, delete backup data, resume, unregister and vault deletion: services, dialogs and API."""

import pytest
from django.urls import reverse

from backup import engine
from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem, RecoveryPoint, RegisteredItem
from backup.vms.services import backup as backups
from backup.vms.services import manage
from tests.factories import make_policy, make_protected_item, make_vault, make_vm

from .helpers import run_jobs
from .restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
)


@pytest.fixture
def item(alpha):
    return make_protected_item(alpha, os_mib=1, data_mib=0.5)


def test_stop_protection_keeping_data_leaves_points_restorable_and_skips_backups(item, alice):
    back_up(item, alice)
    job = run_jobs(manage.stop_protection(item, user=alice, reason="Other", comment="moving"))[0]
    assert job.status == JobStatus.COMPLETED and job.operation == Operation.STOP_PROTECTION
    assert [s.name for s in job.subtasks.all()] == ["Stop protection"]
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.STOPPED and item.stopped_at
    assert item.recovery_points.count() == 1
    assert backups.run_scheduled_backups(item.policy_id) == []
    with pytest.raises(Exception, match="Protection of this item is stopped"):
        backups.back_up_now(item, alice)


def hard_delete(vault) -> None:
    """Soft delete is on by default; these tests delete for good."""
    Vault.objects.filter(pk=vault.pk).update(soft_delete=Vault.SoftDelete.DISABLED)


def test_stop_protection_deleting_data_removes_points_item_and_manifests_then_collects_garbage(item, alice):
    hard_delete(item.vault)
    point = back_up(item, alice)
    store = engine.Store.open(item.vault.store_path)
    job = run_jobs(manage.stop_protection(item, user=alice, delete_data=True))[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert [s.name for s in job.subtasks.all()] == ["Stop protection", "Delete backup data"]
    assert not ProtectedItem.objects.filter(pk=item.pk).exists()
    assert not RecoveryPoint.objects.filter(pk=point.pk).exists()
    assert not store.has_manifest(point.point_id)
    assert Job.objects.filter(operation=Operation.GARBAGE_COLLECTION, vault_id=item.vault_id).exists()
    # The registration stays: the machine can be protected again, or unregistered.
    assert RegisteredItem.objects.get(pk=item.registered_item_id).status == RegisteredItem.Status.REGISTERED


def test_delete_backup_data_needs_protection_stopped_first(item, alice):
    hard_delete(item.vault)
    with pytest.raises(Exception, match="only after its protection is stopped"):
        manage.delete_backup_data(item, user=alice)
    back_up(item, alice)
    run_jobs(manage.stop_protection(item, user=alice))
    item.refresh_from_db()
    with pytest.raises(Exception, match="already stopped"):
        manage.stop_protection(item, user=alice)
    job = run_jobs(manage.delete_backup_data(item, user=alice))[0]
    assert job.status == JobStatus.COMPLETED and job.operation == Operation.DELETE_BACKUP_DATA
    assert not ProtectedItem.objects.filter(pk=item.pk).exists()


def test_resume_protection_keeps_the_points(item, alice):
    back_up(item, alice)
    run_jobs(manage.stop_protection(item, user=alice))
    item.refresh_from_db()
    policy = make_policy(item.vault)
    job = run_jobs(manage.resume_protection(item, policy, user=alice))[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.PROTECTED and item.policy == policy
    assert item.recovery_points.count() == 1


def test_unregister_is_refused_while_protected_or_holding_data(item, alice):
    registered = item.registered_item
    with pytest.raises(Exception, match=rf"'{registered.vm_name} \({registered.cloud_service_name}\)' is protected by"):
        manage.start_unregister(registered, user=alice)  # the cloud service tells two machines of one name apart
    back_up(item, alice)
    run_jobs(manage.stop_protection(item, user=alice))
    registered.refresh_from_db()
    with pytest.raises(Exception, match=r"still has backup data \(1 recovery point\)"):
        manage.start_unregister(registered, user=alice)


def test_unregister_removes_the_extension_and_the_registration(item, alice):
    hard_delete(item.vault)
    run_jobs(manage.stop_protection(item, user=alice, delete_data=True))
    vm = item.vm
    vm.backup_extension_installed = True
    vm.save()
    registered = RegisteredItem.objects.get(pk=item.registered_item_id)
    job = run_jobs(manage.start_unregister(registered, user=alice))[0]
    assert job.status == JobStatus.COMPLETED and job.operation == Operation.UNREGISTER
    assert not RegisteredItem.objects.filter(pk=registered.pk).exists()
    vm.refresh_from_db()
    assert not vm.backup_extension_installed


def test_vault_deletion_is_refused_with_what_remains(alpha, alice):
    vault = make_vault(alpha)
    web = make_protected_item(alpha, vault, name="web01", os_mib=0.5, data_mib=0.25)
    make_protected_item(alpha, vault, name="db01", os_mib=0.5, data_mib=0.25)
    back_up(web, alice)
    problem = manage.vault_deletion_problem(vault)
    assert "2 registered items (db01, web01), 2 protected items, 1 recovery point" in problem
    with pytest.raises(Exception, match="registered items"):
        manage.start_delete_vault(vault, user=alice)


def test_an_empty_vault_is_deleted_with_its_store_and_policies(alpha, alice):
    vault = make_vault(alpha)
    policy = make_policy(vault)
    from backup.vms.services.policies import sync_schedule

    task = sync_schedule(policy)
    store = vault.store_path
    job = manage.start_delete_vault(vault, user=alice, reason="Other")
    vault.refresh_from_db()
    assert vault.status == Vault.Status.DELETING
    job = run_jobs(job)[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.operation == Operation.DELETE_VAULT
    assert not Vault.objects.filter(pk=vault.pk).exists() and not store.exists()
    from django_celery_beat.models import PeriodicTask

    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


# -- Dialogs ------------------------------------------------------------------------------------------------
def test_the_stop_protection_dialog_starts_a_job_per_ticked_item(alice_client, item):
    url = reverse("vault-stop-protection", args=[item.vault_id])
    page = alice_client.get(url, {"item": item.pk})
    assert b"Delete associated backup data" in page.content and b"checked" not in page.content
    response = alice_client.post(url, {"item": item.pk, "reason": "Other"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"]
    assert Job.objects.get(operation=Operation.STOP_PROTECTION).params["delete_data"] is False


def test_the_delete_data_dialog_refuses_protected_items(alice_client, item):
    page = alice_client.get(reverse("vault-delete-backup-data", args=[item.vault_id]), {"item": item.pk})
    assert b"Only the backup data of items whose protection is stopped" in page.content


def test_the_unregister_dialog_asks_for_confirmation(alice_client, alpha, alice):
    vault = make_vault(alpha)
    vm = make_vm(alpha, os_mib=0.25, data_mib=0.25)
    registered = RegisteredItem.objects.create(vault=vault, vm=vm, vm_name=vm.name,
                                               cloud_service_name=vm.cloud_service.name,
                                               status=RegisteredItem.Status.REGISTERED)
    url = reverse("vault-unregister", args=[vault.pk])
    assert vm.name.encode() in alice_client.get(url).content
    confirm = alice_client.post(url, {"registered_item": registered.pk})
    assert b"unregister-yes" in confirm.content and not Job.objects.exists()
    alice_client.post(url, {"registered_item": registered.pk, "confirm": "yes"}, HTTP_HX_REQUEST="true")
    assert Job.objects.get(operation=Operation.UNREGISTER).item_name == vm.name
    registered.refresh_from_db()
    assert registered.status == RegisteredItem.Status.UNREGISTERING


def test_the_delete_vault_dialog_lists_what_remains(alice_client, item):
    page = alice_client.get(reverse("vault-delete", args=[item.vault_id]))
    assert b"1 registered item" in page.content and b"delete-vault-submit" not in page.content


@pytest.mark.parametrize("name", ["vault-stop-protection", "vault-delete-backup-data", "vault-unregister",
                                  "vault-delete", "vault-restore"])
def test_dialogs_are_private_to_the_subscription(client, charlie_client, item, name):
    url = reverse(name, args=[item.vault_id])
    assert charlie_client.get(url, {"item": item.pk}).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


# -- API ----------------------------------------------------------------------------------------------------
def test_api_stop_protection_resume_and_delete(client, api_headers, alice, charlie, item):
    auth = api_headers(alice)
    back_up(item, alice)
    url = f"/api/v1/protected-items/{item.pk}"
    assert client.post(f"{url}/stop-protection", {}, content_type="application/json",
                       headers=api_headers(charlie)).status_code == 404
    response = client.post(f"{url}/stop-protection", {"reason": "Other"}, content_type="application/json",
                           headers=auth)
    assert response.status_code == 202 and response.json()["operation"] == "stop_protection"
    run_jobs(list(Job.objects.filter(pk=response.json()["id"])))
    policy = make_policy(item.vault)
    response = client.post(f"{url}/resume", {"policy_id": policy.pk}, content_type="application/json", headers=auth)
    assert response.status_code == 202 and response.json()["operation"] == "configure_protection"
    response = client.post(f"{url}/delete-backup-data", {}, content_type="application/json", headers=auth)
    assert response.status_code == 202


def test_api_unregister_and_delete_vault_refusals(client, api_headers, alice, charlie, item):
    auth = api_headers(alice)
    response = client.post(f"/api/v1/registered-items/{item.registered_item_id}/unregister", headers=auth)
    assert response.status_code == 400 and "is protected by the policy" in response.json()["detail"]
    assert client.post(f"/api/v1/registered-items/{item.registered_item_id}/unregister",
                       headers=api_headers(charlie)).status_code == 404
    response = client.delete(f"/api/v1/vaults/{item.vault_id}", headers=auth)
    assert response.status_code == 400 and "1 registered item" in response.json()["detail"]
    assert client.delete(f"/api/v1/vaults/{item.vault_id}", headers=api_headers(charlie)).status_code == 404
    assert client.delete(f"/api/v1/vaults/{item.vault_id}").status_code == 401
    assert client.get(f"/api/v1/vaults/{item.vault_id}", headers=auth).status_code == 200
