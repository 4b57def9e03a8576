"""Parallel requests for one name: one wins, the others get the product's clash message, never a 500.

Every request passes the name check before any of them writes (a barrier holds them there), so the unique index
is what refuses the latecomers, on SQLite (whose writes queue) as on PostgreSQL (where they block on the index).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from backup.vaults import services as vault_services
from backup.vaults.models import Vault
from backup.vms.models import BackupPolicy
from backup.vms.services import policies
from tests.factories import make_vault

pytestmark = pytest.mark.django_db(transaction=True)
PARALLEL = 10


def _hold_after(module, name: str, monkeypatch) -> None:
    """Every request waits after `module.name` (the name check) until all of them have passed it."""
    barrier = threading.Barrier(PARALLEL, timeout=20)
    check = getattr(module, name)

    def checked_then_held(*args, **kwargs):
        result = check(*args, **kwargs)
        barrier.wait()
        return result

    monkeypatch.setattr(module, name, checked_then_held)


def _in_parallel(send) -> list[tuple[int, dict]]:
    def one(_):
        try:
            response = send(Client(raise_request_exception=False))
            return response.status_code, response.json() if response.status_code != 500 else {}
        finally:
            connection.close()

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, range(PARALLEL)))


def test_parallel_creations_of_one_vault_name_make_one_vault_and_clash_messages(alice, alpha, api_headers,
                                                                                monkeypatch):
    headers = api_headers(alice)
    _hold_after(vault_services, "validate_vault_name", monkeypatch)
    body = {"name": "Payroll", "region": "West US", "subscription_id": alpha.pk}
    results = _in_parallel(lambda client: client.post("/api/v1/vaults", body, content_type="application/json",
                                                      headers=headers))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [400] * (PARALLEL - 1)
    clash = "A backup vault named 'Payroll' already exists in this subscription."
    assert all(body["errors"]["name"] == [clash] for status, body in results if status == 400)
    assert Vault.objects.filter(name="Payroll").count() == 1


def test_parallel_creations_of_one_policy_name_make_one_policy_and_clash_messages(alice, alpha, api_headers,
                                                                                  monkeypatch):
    vault = make_vault(alpha)
    headers = api_headers(alice)
    _hold_after(policies, "clean_policy", monkeypatch)
    body = {"name": "Nightly", "time_of_day": "23:00", "daily_retention_days": 7}
    results = _in_parallel(lambda client: client.post(f"/api/v1/vaults/{vault.pk}/policies", body,
                                                      content_type="application/json", headers=headers))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [400] * (PARALLEL - 1)
    assert all(body["errors"]["name"] == [policies.NAME_CLASH] for status, body in results if status == 400)
    assert BackupPolicy.objects.filter(vault=vault, name="Nightly").count() == 1


def test_parallel_renames_to_one_policy_name_keep_the_names_unique(alice, alpha, api_headers, monkeypatch):
    vault = make_vault(alpha)
    headers = api_headers(alice)
    mine = [policies.create_policy(vault, {"name": f"Policy-{i}", "daily_retention_days": 7, "time_of_day": "22:00"})
            for i in range(PARALLEL)]
    _hold_after(policies, "clean_policy", monkeypatch)
    body = {"name": "Nightly", "time_of_day": "23:00", "daily_retention_days": 7}
    ids = iter(p.pk for p in mine)
    lock = threading.Lock()

    def rename(client):
        with lock:
            policy_id = next(ids)
        return client.put(f"/api/v1/vaults/{vault.pk}/policies/{policy_id}", body, content_type="application/json",
                          headers=headers)

    results = _in_parallel(rename)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (PARALLEL - 1)
    assert all(body["errors"]["name"] == [policies.NAME_CLASH] for status, body in results if status == 400)
    assert BackupPolicy.objects.filter(vault=vault, name="Nightly").count() == 1


def test_parallel_creations_never_pass_the_limit_of_vaults_per_subscription(alice, alpha, api_headers, monkeypatch):
    for i in range(vault_services.MAX_VAULTS_PER_SUBSCRIPTION - 1):
        Vault.objects.create(subscription=alpha, name=f"v{i}", region="West US", status=Vault.Status.ACTIVE)
    headers = api_headers(alice)
    _hold_after(vault_services, "validate_vault_name", monkeypatch)
    names = iter(f"Parallel-{i}" for i in range(PARALLEL))
    lock = threading.Lock()

    def create(client):
        with lock:
            name = next(names)
        return client.post("/api/v1/vaults", {"name": name, "region": "West US", "subscription_id": alpha.pk},
                           content_type="application/json", headers=headers)

    results = _in_parallel(create)
    assert sorted(status for status, _ in results) == [201] + [400] * (PARALLEL - 1)
    limit = "This subscription already has 25 backup vaults, the most allowed."
    assert all(body["errors"]["subscription"] == [limit] for status, body in results if status == 400)
    assert Vault.objects.filter(subscription=alpha).count() == vault_services.MAX_VAULTS_PER_SUBSCRIPTION
