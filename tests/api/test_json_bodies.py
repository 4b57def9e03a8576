"""The API's answers to bodies it cannot use: JSON that is not an object, and errors nobody expected."""

import logging

import pytest

from backup.vaults.models import Vault
from portal.middleware import NOT_AN_OBJECT
from tests.security.test_tenancy_matrix import _api_url, _operations
from tests.security.world import build_world

NON_OBJECTS = ["[]", "[1]", "[false]", '"vault"', "42", "3.5", "true", "null", ' [{"name": "x"}] ']

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(alpha, alice):
    return build_world(alpha, alice)


def test_every_api_operation_refuses_a_body_that_is_not_a_json_object(client, world, alice, api_headers):
    ids = world.ids()
    before = world.snapshot()
    auth = {"HTTP_AUTHORIZATION": api_headers(alice)["Authorization"]}
    problems, count = [], 0
    for path, method, operation, _schema in _operations(client):
        url, _names_object, _query = _api_url(path, operation, ids)
        count += 1
        for body in NON_OBJECTS:
            response = client.generic(method.upper(), url, body, content_type="application/json", **auth)
            detail = response.json().get("detail", "") if response.headers["Content-Type"].startswith(
                "application/json") else ""
            if response.status_code != 400 or NOT_AN_OBJECT not in detail:
                problems.append(f"{method.upper()} {url} with {body.strip()} -> {response.status_code} "
                                f"{response.content[:120]!r}")
    assert count > 20
    assert problems == []
    assert world.snapshot() == before, "a refused body changed something"


def test_an_array_body_no_longer_deletes_a_vault(client, alice, alpha, api_headers):
    vault = Vault.objects.create(subscription=alpha, name="Payroll", region="West US", status=Vault.Status.ACTIVE)
    response = client.delete(f"/api/v1/vaults/{vault.pk}", "[1]", content_type="application/json",
                             headers=api_headers(alice))
    assert response.status_code == 400
    assert response.json()["detail"] == f"Malformed request: {NOT_AN_OBJECT}."
    vault.refresh_from_db()
    assert vault.status == Vault.Status.ACTIVE


def test_an_object_body_and_no_body_still_work(client, alice, alpha, api_headers):
    headers = api_headers(alice)
    assert client.get("/api/v1/vaults", headers=headers).status_code == 200
    created = client.post("/api/v1/vaults", {"name": "Payroll", "region": "West US", "subscription_id": alpha.pk},
                          content_type="application/json", headers=headers)
    assert created.status_code == 201
    broken = client.post("/api/v1/vaults", "{not json", content_type="application/json", headers=headers)
    assert broken.status_code == 400  # ninja's own parser error, as before


def test_a_deeply_nested_array_is_refused_too(client, alice, api_headers):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/vaults", body, content_type="application/json", headers=api_headers(alice))
    assert response.status_code == 400 and NOT_AN_OBJECT in response.json()["detail"]


@pytest.mark.parametrize("debug", [True, False])
def test_an_unexpected_error_is_a_json_body_with_an_error_id(client, alice, alpha, api_headers, monkeypatch,
                                                            settings, caplog, debug):
    settings.DEBUG = debug

    def broken(*args, **kwargs):
        raise RuntimeError("something broke in /srv/portal/secret.py")

    monkeypatch.setattr("backup.vaults.access.get_vault_for_user", broken)
    with caplog.at_level(logging.ERROR, logger="portal.api"):
        response = client.get("/api/v1/vaults/1", headers=api_headers(alice))
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    error_id = body["error_id"]
    assert len(error_id) == 12 and error_id in body["detail"]
    assert "internal error" in body["detail"]
    assert "Traceback" not in response.content.decode() and "/srv/" not in response.content.decode()
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info and "something broke" in str(record.exc_info[1])
