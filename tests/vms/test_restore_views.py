"""The RESTORE wizard's pages, the calendar, the item page and the restore API."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from backup.jobs.models import Job, Operation
from backup.vms.models import CloudService, RecoveryPoint, StorageAccount
from tests.factories import make_protected_item

from .restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
)


@pytest.fixture
def item(alpha, alice):
    item = make_protected_item(alpha, os_mib=0.5, data_mib=0.25)
    point = back_up(item, alice)
    # A second, older point on another day, for the calendar.
    RecoveryPoint.objects.create(vault=item.vault, protected_item=item, registered_item=item.registered_item,
                                 vm_name=item.vm_name, point_id="older", consistency="file",
                                 created_at=point.created_at - timedelta(days=40), disks=point.disks)
    StorageAccount.objects.create(subscription=alpha, name="restoresa", region="West US")
    return item


def _url(item, name="vault-restore"):
    return reverse(name, args=[item.vault_id])


def test_page_one_offers_the_newest_point_and_a_calendar(alice_client, item):
    page = alice_client.get(_url(item), {"item": item.pk}).content.decode()
    assert "Newest recovery point" in page and "Select date" in page
    assert 'class=" has-points selected"' in page
    assert "1 RECOVERY POINT" in page and "Application consistent" in page


def test_the_calendar_moves_between_months_and_lists_a_days_points(alice_client, item):
    older = RecoveryPoint.objects.get(point_id="older")
    day = older.created_at.date()
    part = alice_client.get(_url(item, "vault-restore-calendar"),
                            {"item": item.pk, "day": day.isoformat(), "mode": "date"}).content.decode()
    assert f'value="{older.pk}"' in part and "File-system consistent" in part
    assert 'id="restore-mode-date" checked' in part


def test_no_point_chosen_on_a_date_is_an_error_at_the_point(alice_client, item):
    page = alice_client.post(_url(item), {"item": item.pk, "step": "2", "mode": "date"}).content.decode()
    assert "Choose a recovery point" in page


def test_page_two_suggests_a_new_cloud_service_and_refuses_an_existing_name(alice_client, item):
    page = alice_client.post(_url(item), {"item": item.pk, "step": "2", "mode": "newest"}).content.decode()
    assert f'value="{item.vm_name}"' in page and "-restored" in page and "not protected" in page
    assert "load balancer" in page
    page = alice_client.post(_url(item), {
        "item": item.pk, "step": "3", "mode": "newest", "vm_name": item.vm_name, "cs_mode": "existing",
        "cloud_service": item.vm.cloud_service.name, "storage_account": "restoresa"}).content.decode()
    assert "replacing an existing virtual machine is not supported" in page
    assert not Job.objects.filter(operation=Operation.RESTORE).exists()


def test_a_cloud_service_bound_to_a_network_fixes_it(alice_client, alpha, item):
    CloudService.objects.create(subscription=alpha, name="aaa-in-vnet", region="West US", virtual_network="corp",
                                subnets=["front", "back"])
    page = alice_client.post(_url(item), {"item": item.pk, "step": "2", "mode": "newest", "vm_name": "r1",
                                          "cs_mode": "existing", "cloud_service": "aaa-in-vnet"}).content.decode()
    assert "Fixed: the cloud service is bound" in page and '<option value="front" selected>' in page


def test_submitting_starts_the_restore_job_and_closes_the_dialog(alice_client, alice, item):
    response = alice_client.post(_url(item), {
        "item": item.pk, "step": "3", "mode": "newest", "vm_name": "r1", "cs_mode": "new",
        "new_cloud_service": "r1-restored", "storage_account": "restoresa"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    assert "refresh-toasts" in response["HX-Trigger"]
    job = Job.objects.get(operation=Operation.RESTORE)
    assert job.params["vm_name"] == "r1" and job.lock_key == "restore-target:r1-restored:r1"


def test_the_wizard_refuses_a_multi_dc_domain_controller(alice_client, item):
    item.vm.domain_controller = item.vm.multi_dc_domain = True
    item.vm.save()
    page = alice_client.get(_url(item), {"item": item.pk}).content.decode()
    assert "USN rollback" in page and "disks only" in page and "restore-next" not in page


def test_restore_needs_exactly_one_ticked_item(alice_client, item):
    assert b"Select one protected item" in alice_client.get(_url(item)).content


def test_the_item_page_lists_points_details_and_policy(alice_client, item, charlie):
    url = reverse("vault-protected-item", args=[item.vault_id, item.pk])
    page = alice_client.get(url).content.decode()
    assert "RECOVERY POINTS" in page and "File-system consistent" in page and "TRANSFERRED" in page
    assert "LAST BACKUP" in alice_client.get(url, {"view": "details"}).content.decode()
    assert item.policy.name in alice_client.get(url, {"view": "policy"}).content.decode()
    outsider = Client()
    outsider.force_login(charlie)
    assert outsider.get(url).status_code == 404
    listing = alice_client.get(reverse("vault-protected", args=[item.vault_id])).content.decode()
    assert url in listing and "cmd-restore" in listing and "cmd-stop-protection" in listing


def test_api_restore_validates_and_starts_a_job(client, api_headers, alice, charlie, item):
    url = f"/api/v1/protected-items/{item.pk}/restore"
    response = client.post(url, {"vm_name": "x", "cloud_service": "new-x", "storage_account": "nope"},
                           content_type="application/json", headers=api_headers(alice))
    assert response.status_code == 400 and "storage_account" in response.json()["errors"]
    assert client.post(url, {}, content_type="application/json", headers=api_headers(charlie)).status_code == 404
    assert client.post(url, {}, content_type="application/json").status_code == 401
    older = RecoveryPoint.objects.get(point_id="older")
    response = client.post(url, {"recovery_point_id": older.pk, "vm_name": "x", "cloud_service": "new-x",
                                 "create_cloud_service": True, "storage_account": "restoresa"},
                           content_type="application/json", headers=api_headers(alice))
    assert response.status_code == 202, response.json()
    assert Job.objects.get(pk=response.json()["id"]).params["point_id"] == "older"
