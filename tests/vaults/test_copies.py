"""A vault's copies: the storage location of its region, and the secondary store of a geo-redundant vault in the
paired region, made at creation or when the redundancy is set geo-redundant before it locks."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.urls import reverse

from backup import engine
from backup.vaults import copies, services
from backup.vaults.models import StorageLocation, Vault
from backup.vaults.regions import PAIRED_REGIONS, REGIONS, paired_region


def test_every_region_has_its_pair():
    assert set(PAIRED_REGIONS) == set(REGIONS)
    assert (paired_region("East US"), paired_region("West US")) == ("West US", "East US")
    assert (paired_region("North Europe"), paired_region("Japan West")) == ("West Europe", "Japan East")
    # Brazil South replicates to South Central US, whose own pair is North Central US.
    assert paired_region("Brazil South") == "South Central US"
    assert paired_region("South Central US") == "North Central US"


def _create(alice, alpha, name="Payroll", region="West US") -> Vault:
    vault = services.create_vault(user=alice, subscription=alpha, name=name, region=region)
    services.provision_vault(vault.pk)
    vault.refresh_from_db()
    return vault


def test_a_vault_in_a_region_without_a_location_keeps_the_default_folders(alice, alpha, settings):
    vault = _create(alice, alpha)
    assert vault.primary_location is None and vault.status == Vault.Status.ACTIVE
    assert vault.store_location == str(Path(settings.VAULT_STORAGE_ROOT) / f"vault-{vault.pk}")
    assert vault.store_options is None
    assert (vault.secondary_region, vault.has_secondary) == ("East US", True)
    assert engine.open_store(vault.secondary_store_location).list_manifests() == []


def test_a_vault_records_its_regions_locations(alice, alpha, tmp_path):
    west = StorageLocation.objects.create(name="west", region="West US", path=str(tmp_path / "west"))
    east = StorageLocation.objects.create(name="east", region="East US", path=str(tmp_path / "east"))
    vault = _create(alice, alpha)
    assert (vault.primary_location, vault.secondary_location) == (west, east)
    assert vault.store_path == tmp_path / "west" / f"vault-{vault.pk}"
    assert engine.open_store(vault.store_location) and engine.open_store(tmp_path / "east" / f"vault-{vault.pk}")
    assert not vault.in_bucket
    # A location holding stores cannot be deleted: the vault keeps the locations it was created in.
    with pytest.raises(ProtectedError):
        west.delete()


def test_a_bucket_location_gives_the_engine_a_bucket_url_and_its_options(alpha):
    bucket = StorageLocation.objects.create(
        name="east",
        region="East US",
        kind="bucket",
        bucket="backups",
        prefix="/portal/",
        endpoint_url="http://127.0.0.1:9000",
        path_style=True,
    )
    vault = Vault.objects.create(subscription=alpha, name="B", region="East US", primary_location=bucket)
    assert vault.store_location == f"s3://backups/portal/vault-{vault.pk}"
    options = vault.store_options
    assert options["endpoint_url"] == "http://127.0.0.1:9000" and options["path_style"] is True
    assert "access_key_id" not in options  # from the environment
    assert vault.in_bucket
    assert options["cache_dir"].endswith(f"/location-{bucket.pk}/vault-{vault.pk}")  # one cache per store


def test_a_location_is_checked_for_what_its_kind_needs(db, tmp_path):
    with pytest.raises(ValidationError) as info:
        StorageLocation(name="x", region="East US", kind="bucket", bucket="Bad_Name", prefix="../up").full_clean()
    assert set(info.value.message_dict) == {"bucket", "prefix"}
    with pytest.raises(ValidationError) as info:
        StorageLocation(name="x", region="East US", kind="folder", path="").full_clean()
    assert info.value.message_dict == {"path": ["Enter the folder's path."]}
    StorageLocation(name="x", region="East US", kind="folder", path=str(tmp_path / "new")).full_clean()


def test_setting_a_vault_locally_redundant_drops_its_secondary_and_back_makes_it_again(alice, alpha):
    vault = _create(alice, alpha)
    secondary = Path(vault.secondary_store_location)
    services.set_redundancy(vault, "local")
    vault.refresh_from_db()
    assert not vault.has_secondary and vault.secondary_region == "" and not secondary.exists()
    services.set_redundancy(vault, "geo")
    vault.refresh_from_db()
    assert vault.has_secondary and secondary.exists()


def test_a_secondary_that_cannot_be_made_is_an_error_at_the_redundancy(alice, alpha, tmp_path):
    vault = _create(alice, alpha)
    services.set_redundancy(vault, "local")
    (tmp_path / "a-file").write_text("")
    StorageLocation.objects.create(name="east", region="East US", path=str(tmp_path / "a-file"))
    with pytest.raises(ValidationError) as info:
        services.set_redundancy(vault, "geo")
    assert info.value.message_dict["redundancy"][0].startswith("The copy in the paired region could not be created")
    assert not Vault.objects.get(pk=vault.pk).has_secondary


def test_the_admin_action_gives_an_older_geo_redundant_vault_its_copy(client, django_user_model, alpha):
    vault = Vault.objects.create(subscription=alpha, name="Old", region="North Europe", status=Vault.Status.ACTIVE)
    copies.init_primary(vault)
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.org", "pw"))
    changelist = reverse("admin:vaults_vault_changelist")
    client.post(changelist, {"action": "create_secondary", "_selected_action": [vault.pk]})
    vault.refresh_from_db()
    assert vault.has_secondary and vault.secondary_region == "West Europe"


def test_the_api_names_the_paired_region_and_a_redundancy_change_moves_it(client, alice, alpha, api_headers):
    vault = _create(alice, alpha)
    url = f"/api/v1/vaults/{vault.pk}"
    assert client.get(url, headers=api_headers(alice)).json()["secondary_region"] == "East US"
    r = client.put(
        f"{url}/redundancy", {"redundancy": "local"}, content_type="application/json", headers=api_headers(alice)
    )
    assert r.status_code == 200 and r.json()["secondary_region"] == ""


def test_beat_catches_up_replication_every_five_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["replicate-behind-vaults"]
    assert entry == {"task": "backup.vms.tasks.replicate_behind_vaults", "schedule": 300.0}
    from backup.vms import tasks

    assert tasks.replicate_behind_vaults.name == entry["task"]
