"""Every vms page and endpoint: members see it, charlie (another subscription) gets 404, strangers sign in."""

import pytest
from django.urls import reverse

from backup.vms.services import policies

from .helpers import make_vm

VAULT_PAGES = ["vault-registered", "vault-protected", "vault-policies", "vault-register", "vault-protect",
               "vault-discovery-status", "vault-policy-create"]
POLICY_PAGES = ["vault-policy-edit", "vault-policy-delete"]
INVENTORY_PAGES = ["vm-list", "cloud-service-list", "storage-list"]


@pytest.fixture
def policy(vms_vault):
    return policies.ensure_default_policy(vms_vault)


def page_urls(vault, policy):
    urls = [reverse(name, args=[vault.pk]) for name in VAULT_PAGES]
    urls += [reverse(name, args=[vault.pk, policy.pk]) for name in POLICY_PAGES]
    item = vault.registered_items.first()
    urls.append(reverse("vault-registered-row", args=[vault.pk, item.pk]))
    return urls


@pytest.fixture
def item(alpha, vms_vault):
    from backup.vms.services import discovery

    make_vm(alpha, files=False)
    discovery.discover(vms_vault)
    return vms_vault.registered_items.get()


def test_members_get_every_page(client, bob, vms_vault, policy, item):
    client.force_login(bob)
    for url in page_urls(vms_vault, policy) + [reverse(n) for n in INVENTORY_PAGES]:
        assert client.get(url).status_code in (200, 286), url


def test_another_subscription_gets_404_on_every_page(charlie_client, vms_vault, policy, item):
    for url in page_urls(vms_vault, policy):
        assert charlie_client.get(url).status_code == 404, url
    posts = [reverse("vault-discover", args=[vms_vault.pk]), reverse("vault-register", args=[vms_vault.pk]),
             reverse("vault-protect", args=[vms_vault.pk]), reverse("vault-policy-create", args=[vms_vault.pk]),
             reverse("vault-policy-edit", args=[vms_vault.pk, policy.pk]),
             reverse("vault-policy-delete", args=[vms_vault.pk, policy.pk])]
    for url in posts:
        assert charlie_client.post(url, {"vm": [item.vm_id]}).status_code == 404, url
    assert policy.__class__.objects.filter(pk=policy.pk).exists()


def test_inventory_pages_show_only_the_users_subscriptions(charlie_client, alpha, gamma):
    make_vm(alpha, name="alpha-secret", files=False)
    make_vm(gamma, name="gamma-own", files=False)
    for name in INVENTORY_PAGES:
        assert b"alpha-secret" not in charlie_client.get(reverse(name)).content
    assert b"gamma-own" in charlie_client.get(reverse("vm-list")).content


def test_strangers_are_sent_to_sign_in(client, vms_vault, policy, item):
    for url in page_urls(vms_vault, policy) + [reverse(n) for n in INVENTORY_PAGES]:
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/"), url


def test_api_is_404_for_another_subscriptions_vault(client, charlie, api_headers, vms_vault, policy, item):
    h = api_headers(charlie)
    base = f"/api/v1/vaults/{vms_vault.pk}"
    for url in [f"{base}/registered-items", f"{base}/protected-items", f"{base}/policies",
                f"{base}/policies/{policy.pk}"]:
        assert client.get(url, headers=h).status_code == 404, url
    for url, body in [(f"{base}/discover", {}), (f"{base}/register", {"vm_ids": [item.vm_id]}),
                      (f"{base}/protect", {"vm_ids": [item.vm_id], "policy_id": policy.pk}),
                      (f"{base}/policies", {"name": "Mine", "daily_retention_days": 3})]:
        assert client.post(url, body, content_type="application/json", headers=h).status_code == 404, url
    assert client.put(f"{base}/policies/{policy.pk}", {"name": "Mine"}, content_type="application/json",
                      headers=h).status_code == 404
    assert client.delete(f"{base}/policies/{policy.pk}", headers=h).status_code == 404


def test_api_needs_a_token(client, vms_vault):
    for url in ["/api/v1/vms", "/api/v1/cloud-services", "/api/v1/storage-accounts",
                f"/api/v1/vaults/{vms_vault.pk}/policies", f"/api/v1/vaults/{vms_vault.pk}/registered-items"]:
        assert client.get(url).status_code == 401, url
    assert client.post(f"/api/v1/vaults/{vms_vault.pk}/discover").status_code == 401
