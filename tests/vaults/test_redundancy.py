import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backup.vaults import services
from backup.vaults.models import Vault


@pytest.fixture
def vault(alpha):
    return Vault.objects.create(subscription=alpha, name="Payroll", region="West US", status=Vault.Status.ACTIVE)


def test_new_vaults_are_geo_redundant(vault):
    assert vault.redundancy == Vault.Redundancy.GEO


def test_redundancy_can_change_before_registration(vault):
    services.set_redundancy(vault, "local")
    vault.refresh_from_db()
    assert vault.redundancy == "local"


def test_redundancy_is_locked_after_the_first_registration(vault):
    services.lock_redundancy(vault)
    vault.refresh_from_db()
    with pytest.raises(ValidationError) as error:
        services.set_redundancy(vault, "local")
    assert "can no longer be changed" in error.value.message_dict["redundancy"][0]
    vault.refresh_from_db()
    assert vault.redundancy == "geo"


def test_configure_page_saves_redundancy(alice_client, vault):
    r = alice_client.post(reverse("vault-configure", args=[vault.pk]), {"redundancy": "local"})
    assert r.status_code == 200
    vault.refresh_from_db()
    assert vault.redundancy == "local"


def test_configure_page_shows_the_lock_and_why(alice_client, vault):
    services.lock_redundancy(vault)
    r = alice_client.get(reverse("vault-configure", args=[vault.pk]))
    assert b"fieldset disabled" in r.content
    assert b"can no longer be changed" in r.content
    r = alice_client.post(reverse("vault-configure", args=[vault.pk]), {"redundancy": "local"})
    assert b"can no longer be changed" in r.content
    vault.refresh_from_db()
    assert vault.redundancy == "geo"


def test_api_sets_redundancy_and_refuses_when_locked(client, alice, vault, api_headers):
    url = f"/api/v1/vaults/{vault.pk}/redundancy"
    headers = api_headers(alice)
    r = client.put(url, {"redundancy": "local"}, content_type="application/json", headers=headers)
    assert r.status_code == 200 and r.json()["redundancy"] == "local"
    services.lock_redundancy(vault)
    r = client.put(url, {"redundancy": "geo"}, content_type="application/json", headers=headers)
    assert r.status_code == 400
    assert "can no longer be changed" in r.json()["detail"]
