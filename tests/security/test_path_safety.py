"""No user-controlled value reaches a file path: names are refused by forms and the API, and stores, disks and
recovery points are addressed by ids only."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from backup import engine
from backup.engine.manifest import check_id
from backup.fabric import layout
from backup.vaults.models import Vault
from backup.vms.models import BackupPolicy
from backup.vms.services import restore
from tests.security.world import build_world

EVIL = [
    "../../pwned", "..", "a/b", "/tmp/pwned-trust", "a\\..\\pwned", "nul\x00pwned", "a" * 5000,
    "vault-é-ü", "名字", "😀pwned", " ", "", "a\nb", "-leading-hyphen", "vault-1/../../pwned",
]


def _files_named_pwned() -> list[str]:
    found = []
    for root in (Path(settings.VAR_DIR).parent, Path("/tmp")):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in {".venv", ".git", "node_modules"}]
            found += [os.path.join(dirpath, n) for n in dirnames + filenames if "pwned" in n]
    return found


@pytest.fixture
def world(alpha, alice):
    return build_world(alpha, alice)


@pytest.mark.django_db
@pytest.mark.parametrize("name", EVIL)
def test_quick_create_refuses_unsafe_vault_names_at_the_field(alice_client, alpha, name):
    response = alice_client.post("/vaults/new/", {"name": name, "region": "West US", "subscription": alpha.pk},
                                 HTTP_HX_REQUEST="true")
    assert response.status_code in (200, 400, 422)
    assert not Vault.objects.exists()
    body = response.content.decode()
    assert any(reason in body for reason in ("The vault name must", "This field is required", "at most 100 characters",
                                             "Null characters are not allowed", "NUL character")), body


@pytest.mark.django_db
@pytest.mark.parametrize("name", EVIL)
def test_the_api_refuses_unsafe_vault_names_with_field_errors(client, alice, alpha, api_headers, name):
    response = client.post("/api/v1/vaults", {"name": name, "region": "West US", "subscription_id": alpha.pk},
                           content_type="application/json", HTTP_AUTHORIZATION=api_headers(alice)["Authorization"])
    assert response.status_code in (400, 422), response.content
    assert not Vault.objects.exists()


@pytest.mark.django_db
def test_unsafe_policy_names_are_refused_and_create_no_file(client, world, alice, api_headers):
    auth = {"HTTP_AUTHORIZATION": api_headers(alice)["Authorization"]}
    before = BackupPolicy.objects.count()
    for name in EVIL:
        response = client.post(f"/api/v1/vaults/{world.vault.pk}/policies", {"name": name, "time_of_day": "22:00"},
                               content_type="application/json", **auth)
        assert response.status_code in (400, 422), (name, response.content)
        page = client.post(f"/vaults/{world.vault.pk}/policies/new/", {"name": name, "frequency": "daily",
                           "time_of_day": "22:00", "timezone": "UTC", "daily_retention_days": "30"},
                           HTTP_HX_REQUEST="true") if client.force_login(alice) is None else None
        refusal = page.content.decode().lower()
        assert page.status_code in (200, 400, 422) and ("policy name" in refusal or "nul character" in refusal), name
    assert BackupPolicy.objects.count() == before
    assert _files_named_pwned() == []


@pytest.mark.django_db
@pytest.mark.parametrize("name", EVIL)
def test_the_restore_wizard_refuses_unsafe_vm_and_cloud_service_names(world, name):
    with pytest.raises(ValidationError) as refused:
        restore.validate_restore(world.point, vm_name=name, cloud_service=name, create_cloud_service=True,
                                 storage_account="no-such-account")
    errors = refused.value.message_dict
    assert "vm_name" in errors and "cloud_service" in errors


def test_store_points_and_disks_are_addressed_by_safe_ids_only(tmp_path):
    store = engine.Store.init(tmp_path / "vault-1")
    for bad in ["../x", "a/b", "x\x00", "", "a" * 65, "é", "..", "."]:
        with pytest.raises(ValueError):
            check_id(bad, "point_id")
        with pytest.raises(ValueError):
            store.manifest_path(bad)
    for bad in ["1", "../1", -1, 1.5, True, None]:
        with pytest.raises(ValueError):
            layout.disk_path(tmp_path, bad, 1)
        with pytest.raises(ValueError):
            layout.vm_dir(tmp_path, bad)
    assert layout.disk_path(tmp_path, 3, 7) == tmp_path / "sa-3" / "disk-7.vhd"


@pytest.mark.django_db
def test_a_vault_with_an_odd_but_valid_name_is_stored_under_its_id(alpha):
    vault = Vault.objects.create(subscription=alpha, name="Payroll-2015", region="West US")
    assert vault.store_path == Path(settings.VAULT_STORAGE_ROOT) / f"vault-{vault.pk}"
    # Even a name that slipped past validation into the database never reaches the path.
    Vault.objects.filter(pk=vault.pk).update(name="../../pwned")
    vault.refresh_from_db()
    assert vault.store_path.resolve().parent == Path(settings.VAULT_STORAGE_ROOT).resolve()
