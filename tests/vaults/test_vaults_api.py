import pytest

from backup.vaults.models import Vault


@pytest.fixture
def vault(alpha):
    return Vault.objects.create(subscription=alpha, name="Payroll", region="West US", status=Vault.Status.ACTIVE)


def test_api_needs_a_token(client, vault):
    assert client.get("/api/v1/vaults").status_code == 401
    assert client.get("/api/v1/vaults", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_api_lists_only_the_users_vaults(client, alice, charlie, vault, api_headers):
    assert [v["name"] for v in client.get("/api/v1/vaults", headers=api_headers(alice)).json()] == ["Payroll"]
    assert client.get("/api/v1/vaults", headers=api_headers(charlie)).json() == []


def test_api_returns_404_for_another_subscriptions_vault(client, charlie, vault, api_headers):
    assert client.get(f"/api/v1/vaults/{vault.pk}", headers=api_headers(charlie)).status_code == 404
    r = client.put(f"/api/v1/vaults/{vault.pk}/redundancy", {"redundancy": "local"},
                   content_type="application/json", headers=api_headers(charlie))
    assert r.status_code == 404


def test_api_creates_a_vault(client, alice, alpha, api_headers):
    r = client.post("/api/v1/vaults", {"name": "Payroll", "region": "East US", "subscription_id": alpha.pk},
                    content_type="application/json", headers=api_headers(alice))
    assert r.status_code == 201
    assert r.json()["status"] == "creating"


def test_api_reports_the_field_that_is_wrong(client, alice, alpha, api_headers):
    r = client.post("/api/v1/vaults", {"name": "x", "region": "East US", "subscription_id": alpha.pk},
                    content_type="application/json", headers=api_headers(alice))
    assert r.status_code == 400
    assert "between 2 and 50" in r.json()["errors"]["name"][0]


def test_api_cannot_create_in_another_subscription(client, charlie, alpha, api_headers):
    r = client.post("/api/v1/vaults", {"name": "Payroll", "region": "East US", "subscription_id": alpha.pk},
                    content_type="application/json", headers=api_headers(charlie))
    assert r.status_code == 400
    assert not Vault.objects.exists()


def test_api_lists_notifications(client, alice, alpha, api_headers):
    client.post("/api/v1/vaults", {"name": "Payroll", "region": "East US", "subscription_id": alpha.pk},
                content_type="application/json", headers=api_headers(alice))
    notes = client.get("/api/v1/notifications", headers=api_headers(alice)).json()
    assert notes[0]["title"] == "Creating backup vault 'Payroll'…"


def test_openapi_schema_is_published(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert "/api/v1/vaults" in r.json()["paths"]


def test_revoked_tokens_stop_working(client, alice, vault):
    from backup.tenancy.services import issue_token, revoke_token

    token = issue_token(alice)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/vaults", headers=headers).status_code == 200
    revoke_token(alice, token[:12])
    assert client.get("/api/v1/vaults", headers=headers).status_code == 401


def test_tokens_are_stored_hashed(alice):
    from backup.tenancy.models import ApiToken
    from backup.tenancy.services import issue_token

    token = issue_token(alice)
    stored = ApiToken.objects.get()
    assert token not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
