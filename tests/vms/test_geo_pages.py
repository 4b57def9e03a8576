"""Geo-redundancy where users and operators see it: the restore wizard's RESTORE FROM choice, the API and the CLI,
the dashboard's replication state and storage per copy, and the admin's storage locations."""

import io
import os
import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults.models import StorageLocation
from backup.vms.models import RecoveryPoint, StorageAccount
from tests.factories import make_protected_item
from tests.s3server import free_port

from .helpers import run_jobs
from .restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
)
from .test_replication import geo_vault


@pytest.fixture
def replicated(alpha, alice):
    item = make_protected_item(alpha, vault=geo_vault(alpha), os_mib=0.5, data_mib=0.25)
    point = back_up(item, alice)
    run_jobs(Job.objects.get(operation=Operation.REPLICATE))
    point.refresh_from_db()
    StorageAccount.objects.create(subscription=alpha, name="westsa", region="West US")
    StorageAccount.objects.create(subscription=alpha, name="eastsa", region="East US")
    return item, point


def _wizard(client, item, **values):
    data = {"item": item.pk, "step": "2", "mode": "newest"} | values
    return client.post(reverse("vault-restore", args=[item.vault_id]), data).content.decode()


def test_the_wizard_offers_the_secondary_region_and_its_accounts(alice_client, replicated):
    item, _ = replicated
    page = _wizard(alice_client, item)
    assert "RESTORE FROM" in page and "Primary region (West US)" in page and "Secondary region (East US)" in page
    assert 'id="restore-from-primary" checked' in page and "westsa" in page and "eastsa" not in page
    page = _wizard(alice_client, item, restore_from="secondary")
    assert 'id="restore-from-secondary" checked' in page and "eastsa" in page and "westsa" not in page
    assert "Use an existing cloud service in East US" in page


def test_the_wizard_starts_a_restore_from_the_secondary(alice_client, replicated):
    item, _ = replicated
    _wizard(
        alice_client,
        item,
        step="3",
        restore_from="secondary",
        vm_name="web-dr",
        cs_mode="new",
        new_cloud_service="web-dr-cs",
        storage_account="eastsa",
    )
    job = Job.objects.get(operation=Operation.RESTORE)
    assert job.params["from_secondary"] is True and job.params["storage_account"] == "eastsa"


def test_the_wizard_shows_a_paired_region_error_at_the_storage_account(alice_client, replicated):
    item, _ = replicated
    page = _wizard(
        alice_client,
        item,
        step="3",
        restore_from="secondary",
        vm_name="web-dr",
        cs_mode="new",
        new_cloud_service="web-dr-cs",
        storage_account="westsa",
    )
    assert 'data-field="storage_account">A restore from the secondary copy goes to the paired region' in page
    assert not Job.objects.filter(operation=Operation.RESTORE).exists()


def test_with_the_primary_lost_the_wizard_says_so_and_offers_the_secondary(alice_client, replicated):
    item, _ = replicated
    shutil.rmtree(item.vault.store_path)
    page = _wizard(alice_client, item)
    assert "The backup vault's storage in West US cannot be opened." in page
    assert "Restore from the copy in the paired region (East US)" in page
    assert 'id="restore-from-secondary" checked' in page


def test_a_point_not_yet_copied_offers_no_choice(alice_client, alpha, alice):
    item = make_protected_item(alpha, vault=geo_vault(alpha), os_mib=0.5, data_mib=0.25)
    back_up(item, alice)
    assert "RESTORE FROM" not in _wizard(alice_client, item)


def test_the_api_accepts_restore_from_and_rejects_anything_else(client, api_headers, alice, replicated):
    item, point = replicated
    url = f"/api/v1/protected-items/{item.pk}/restore"
    body = {"disks_only": True, "storage_account": "eastsa"}
    bad = client.post(
        url, body | {"restore_from": "elsewhere"}, content_type="application/json", headers=api_headers(alice)
    )
    assert bad.status_code == 400 and bad.json()["errors"] == {"restore_from": ["Choose primary or secondary."]}
    wrong = client.post(url, body, content_type="application/json", headers=api_headers(alice))
    assert wrong.status_code == 400 and "storage_account" in wrong.json()["errors"]  # East US is not the primary's
    ok = client.post(
        url, body | {"restore_from": "secondary"}, content_type="application/json", headers=api_headers(alice)
    )
    assert ok.status_code == 202, ok.json()
    assert Job.objects.get(pk=ok.json()["id"]).params["from_secondary"] is True


def test_the_api_shows_the_replication_state_and_storage_per_copy(client, api_headers, alice, charlie, replicated):
    item, point = replicated
    url = f"/api/v1/vaults/{item.vault_id}/replication"
    body = client.get(url, headers=api_headers(alice)).json()
    assert (body["state"], body["secondary_region"], body["lag_seconds"]) == ("In sync", "East US", 0.0)
    assert body["copies"] == [
        {"name": "Primary", "region": "West US", "stored_bytes": point.stored_bytes_new},
        {"name": "Secondary", "region": "East US", "stored_bytes": point.stored_bytes_new},
    ]
    RecoveryPoint.objects.filter(pk=point.pk).update(replicated_at=None)
    body = client.get(url, headers=api_headers(alice)).json()
    assert body["state"] == "Behind" and body["points_behind"] == 1 and body["lag_seconds"] > 0
    assert body["copies"][1]["stored_bytes"] == 0
    assert client.get(url, headers=api_headers(charlie)).status_code == 404


def test_the_dashboard_shows_replication_and_each_copy(alice_client, replicated):
    item, point = replicated
    page = alice_client.get(reverse("vault-dashboard", args=[item.vault_id])).content.decode()
    assert "GEO-REPLICATION" in page and "In sync" in page and "East US" in page
    assert 'id="dash-copy-primary"' in page and 'id="dash-copy-secondary"' in page


def test_the_dashboard_of_a_locally_redundant_vault_shows_one_copy(alice_client, alpha):
    item = make_protected_item(alpha, os_mib=0.25, data_mib=0.25)
    page = alice_client.get(reverse("vault-dashboard", args=[item.vault_id])).content.decode()
    assert "GEO-REPLICATION" not in page and "dash-copy-secondary" not in page


def _cli(*args) -> str:
    out = io.StringIO()
    call_command("backup", "--user", "alice", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_cli_restores_from_the_secondary(alice, replicated):
    _, point = replicated
    with pytest.raises(CommandError, match="paired region"):
        _cli("restore", "--point", str(point.pk), "--storage-account", "westsa", "--disks-only", "--from", "secondary")
    _cli("restore", "--point", str(point.pk), "--storage-account", "eastsa", "--disks-only", "--from", "secondary")
    job = Job.objects.get(operation=Operation.RESTORE)
    assert job.params["from_secondary"] is True and job.status == JobStatus.IN_PROGRESS


# -- Storage locations in the admin ----------------------------------------------------------------------------
@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    return client


def _add_location(admin_client, **fields):
    data = {
        "name": "east",
        "region": "East US",
        "kind": "folder",
        "path": "",
        "endpoint_url": "",
        "bucket": "",
        "prefix": "",
        "bucket_region": "",
        "credentials": "environment",
        "access_key_id": "",
        "secret_access_key": "",
    } | fields
    return admin_client.post(reverse("admin:vaults_storagelocation_add"), data)


def test_the_admin_refuses_a_folder_path_it_cannot_use(admin_client, tmp_path):
    assert "Enter an absolute path" in _add_location(admin_client, path="relative/dir").content.decode()
    (tmp_path / "a-file").write_text("")
    page = _add_location(admin_client, path=str(tmp_path / "a-file" / "stores")).content.decode()
    assert f"{tmp_path / 'a-file'} is not a folder." in page
    assert "Enter the folder&#x27;s path." in _add_location(admin_client).content.decode()
    assert not StorageLocation.objects.exists()
    assert _add_location(admin_client, path=str(tmp_path / "new" / "stores")).status_code == 302


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to every folder")
def test_the_admin_refuses_a_folder_the_portal_cannot_write(admin_client, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        page = _add_location(admin_client, path=str(locked / "stores")).content.decode()
    finally:
        locked.chmod(0o700)
    assert "The portal cannot write to" in page and not StorageLocation.objects.exists()


def test_the_admin_refuses_a_bucket_location_without_its_bucket(admin_client):
    page = _add_location(admin_client, kind="bucket", credentials="stored", access_key_id="AK").content.decode()
    assert "Enter the bucket&#x27;s name." in page and "Enter the secret access key." in page
    assert not StorageLocation.objects.exists()


def test_a_stored_secret_is_never_shown_again_and_an_empty_field_keeps_it(admin_client, s3_server):
    bucket, endpoint = s3_server.new_bucket(), s3_server.endpoint_url
    fields = {"kind": "bucket", "bucket": bucket, "prefix": "portal/", "path_style": "on", "endpoint_url": endpoint,
              "credentials": "stored", "access_key_id": "AK"}  # fmt: skip
    response = _add_location(admin_client, **fields, secret_access_key="very-secret-key")
    assert response.status_code == 302
    location = StorageLocation.objects.get()
    change = reverse("admin:vaults_storagelocation_change", args=[location.pk])
    assert "very-secret-key" not in admin_client.get(change).content.decode()
    changelist = reverse("admin:vaults_storagelocation_changelist")
    assert "very-secret-key" not in admin_client.get(changelist).content.decode()
    response = admin_client.post(change, {"name": "east", "region": "East US"} | fields | {"secret_access_key": ""})
    assert response.status_code == 302
    location.refresh_from_db()
    assert location.secret_access_key == "very-secret-key"
    assert location.location_for("vault-7") == f"s3://{bucket}/portal/vault-7"
    assert location.options("vault-7") | {"cache_dir": ""} == {
        "path_style": True,
        "endpoint_url": endpoint,
        "access_key_id": "AK",
        "secret_access_key": "very-secret-key",
        "cache_dir": "",
    }


def test_the_admin_checks_that_a_bucket_exists_and_answers(admin_client, s3_server):
    fields = {"kind": "bucket", "path_style": "on", "credentials": "stored", "access_key_id": "AK",
              "secret_access_key": "very-secret-key"}  # fmt: skip
    page = _add_location(admin_client, **fields, bucket="no-such-bucket", endpoint_url=s3_server.endpoint_url)
    text = page.content.decode()
    assert "The bucket cannot be used: the bucket of s3://no-such-bucket/ at" in text and "does not exist" in text
    page = _add_location(admin_client, **fields, bucket="backups", endpoint_url=f"http://127.0.0.1:{free_port()}")
    text = page.content.decode()
    assert "The bucket cannot be used: the object storage s3://backups/ at" in text and "cannot be reached" in text
    assert "very-secret-key" not in text and not StorageLocation.objects.exists()


def test_the_jobs_page_shows_replicate_jobs_only_with_maintenance_and_their_details(alice_client, replicated):
    item, _ = replicated
    job = Job.objects.get(operation=Operation.REPLICATE)
    jobs_url = reverse("vault-jobs", args=[item.vault_id])
    detail = reverse("job-detail", args=[job.pk])
    assert detail not in alice_client.get(jobs_url).content.decode()
    assert detail in alice_client.get(jobs_url, {"maintenance": "on"}).content.decode()
    page = alice_client.get(detail).content.decode()
    assert "Replicate" in page and "East US" in page and "Copy recovery points" in page
