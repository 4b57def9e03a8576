"""One truth for "registered": a failed registration installed nothing, so it counts as not registered on the
dashboard, in REGISTER's offer and when the vault is deleted; the Quick Start names itself and its back-up step."""

import pytest
from django.urls import reverse

from backup.vms.models import CloudService, RegisteredItem, VirtualMachine
from backup.vms.services import dashboard, discovery, manage, registration
from tests.factories import make_protected_item, make_vault

pytestmark = pytest.mark.django_db


def _item(vault, name: str, status: str) -> RegisteredItem:
    cloud = CloudService.objects.get_or_create(subscription=vault.subscription, name="svc", region="West US")[0]
    vm = VirtualMachine.objects.create(subscription=vault.subscription, cloud_service=cloud, name=name)
    return RegisteredItem.objects.create(vault=vault, vm=vm, vm_name=name, cloud_service_name="svc", status=status)


def test_a_failed_registration_is_not_a_registered_item_anywhere(alpha):
    vault = make_vault(alpha)
    _item(vault, "web01", RegisteredItem.Status.FAILED)
    _item(vault, "app01", RegisteredItem.Status.NOT_REGISTERED)
    assert list(discovery.registered_items(vault)) == []
    assert dashboard.summary(vault, since=vault.created_at)["registered_vms"] == 0
    assert manage.vault_deletion_problem(vault) is None
    assert {i.vm_name for i in registration.registrable_items(vault)} == {"web01", "app01"}


def test_registered_being_registered_and_being_unregistered_items_count(alpha):
    vault = make_vault(alpha)
    for name, status in (("a", RegisteredItem.Status.REGISTERED), ("b", RegisteredItem.Status.REGISTERING),
                         ("c", RegisteredItem.Status.UNREGISTERING), ("d", RegisteredItem.Status.FAILED)):
        _item(vault, name, status)
    assert dashboard.summary(vault, since=vault.created_at)["registered_vms"] == 3
    assert "3 registered items (a, b, c)" in manage.vault_deletion_problem(vault)


def test_the_dashboard_shows_the_registered_items_count(alice_client, alpha):
    vault = make_vault(alpha)
    make_protected_item(alpha, vault)
    _item(vault, "failed01", RegisteredItem.Status.FAILED)
    html = alice_client.get(reverse("vault-dashboard", args=[vault.pk])).content.decode()
    assert '<div class="dash-number" id="dash-registered">1</div>' in html
    assert "View registered items" in html


def test_the_quick_start_tab_has_a_label_and_the_back_up_step(alice_client, alpha):
    vault = make_vault(alpha)
    html = alice_client.get(reverse("vault-quickstart", args=[vault.pk])).content.decode()
    assert "QUICK START</a>" in html
    assert "<h3>Back them up</h3>" in html and "BACK UP NOW" in html
