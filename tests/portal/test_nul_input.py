import pytest
from django.urls import reverse


@pytest.mark.parametrize("name", ["bad\x00name", "bad%00name"])
def test_a_form_post_with_a_nul_character_is_refused_clearly(alice_client, alpha, name):
    from backup.vaults.models import Vault

    r = alice_client.post(reverse("vault-quick-create"), f"name={name}&region=West+US&subscription={alpha.pk}",
                          content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert b"NUL character" in r.content
    assert not Vault.objects.exists()


def test_a_query_string_with_a_nul_character_is_refused(alice_client):
    r = alice_client.get(reverse("vault-list") + "?q=a%00b")
    assert r.status_code == 400


def test_an_api_body_with_an_escaped_nul_is_refused_with_json(client, alice, alpha, api_headers):
    body = '{"name": "a\\u0000b", "region": "West US", "subscription_id": ' + str(alpha.pk) + "}"
    r = client.post("/api/v1/vaults", body, content_type="application/json", headers=api_headers(alice))
    assert r.status_code == 400
    assert "NUL character" in r.json()["detail"]
