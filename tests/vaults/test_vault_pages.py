import pytest
from django.urls import reverse

from backup.vaults.models import Vault

VAULT_PAGES = ["vault-quickstart", "vault-configure", "vault-row", "vault-dashboard", "vault-registered",
               "vault-protected", "vault-policies", "vault-jobs"]


@pytest.fixture
def vault(alpha):
    return Vault.objects.create(subscription=alpha, name="Payroll", region="West US", status=Vault.Status.ACTIVE)


@pytest.mark.parametrize("page", VAULT_PAGES)
def test_vault_pages_render_for_a_member(alice_client, vault, page):
    assert alice_client.get(reverse(page, args=[vault.pk])).status_code in (200, 286)


@pytest.mark.parametrize("page", VAULT_PAGES)
def test_vault_pages_are_404_for_another_subscription(charlie_client, vault, page):
    assert charlie_client.get(reverse(page, args=[vault.pk])).status_code == 404


@pytest.mark.parametrize("page", VAULT_PAGES)
def test_vault_pages_need_sign_in(client, vault, page):
    r = client.get(reverse(page, args=[vault.pk]))
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_vault_list_shows_only_the_users_subscriptions(alice_client, alice, vault, gamma):
    Vault.objects.create(subscription=gamma, name="Secret", region="West US")
    r = alice_client.get(reverse("vault-list"))
    assert b"Payroll" in r.content
    assert b"Secret" not in r.content


def test_quickstart_explains_the_three_steps_with_links(alice_client, vault):
    r = alice_client.get(reverse("vault-quickstart", args=[vault.pk]))
    text = r.content.decode()
    for step in ("Discover virtual machines", "Register them", "Protect them"):
        assert step in text
    assert reverse("vault-registered", args=[vault.pk]) in text
    assert reverse("vault-configure", args=[vault.pk]) in text


def test_creating_vault_row_polls_and_stops_when_active(alice_client, alpha):
    vault = Vault.objects.create(subscription=alpha, name="Payroll", region="West US")
    r = alice_client.get(reverse("vault-list"))
    assert b'hx-trigger="every 2s"' in r.content
    vault.status = Vault.Status.ACTIVE
    vault.save()
    r = alice_client.get(reverse("vault-row", args=[vault.pk]), headers={"HX-Request": "true"})
    assert r.status_code == 286  # htmx: stop polling
    assert b"Active" in r.content and b"every 2s" not in r.content


def test_quick_create_form_shows_errors_at_the_field(alice_client, alpha):
    r = alice_client.post(reverse("vault-quick-create"), {"name": "1bad", "region": "West US",
                                                           "subscription": alpha.pk})
    assert r.status_code == 200
    assert b'data-field="name"' in r.content
    assert b"start with a letter" in r.content
    assert not Vault.objects.exists()


def test_quick_create_form_only_offers_the_users_subscriptions(alice_client, alpha, beta, gamma):
    r = alice_client.get(reverse("vault-quick-create"))
    assert b"Alpha" in r.content and b"Beta" in r.content
    assert b"Gamma" not in r.content


def test_quick_create_form_creates_the_vault(alice_client, alpha):
    r = alice_client.post(reverse("vault-quick-create"), {"name": "Payroll", "region": "West US",
                                                           "subscription": alpha.pk}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r["HX-Redirect"] == "/vaults/"
    assert Vault.objects.get().status == Vault.Status.CREATING


def test_forms_are_csrf_protected(alice, alpha):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    r = client.post(reverse("vault-quick-create"), {"name": "Payroll", "region": "West US", "subscription": alpha.pk})
    assert r.status_code == 403
    assert not Vault.objects.exists()
