"""VIRTUAL MACHINES, CLOUD SERVICES and STORAGE pages."""

import re

from django.urls import reverse

from backup.vms.models import ProtectedItem, RegisteredItem, StorageAccount
from backup.vms.services import policies

from .helpers import make_service, make_vm


def test_vm_list_shows_status_service_location_os_size_and_protection(alice_client, alpha, vms_vault):
    vm = make_vm(alpha, name="web01", service=make_service(alpha, name="contoso-web"), power_state="Stopped",
                 os_version="Windows Server 2012 R2 Datacenter", size="A3", files=False)
    make_vm(alpha, name="arm01", deployment_model="resource_manager", files=False)
    item = RegisteredItem.objects.create(vault=vms_vault, vm=vm, vm_name="web01", cloud_service_name="contoso-web",
                                         status="registered")
    ProtectedItem.objects.create(vault=vms_vault, registered_item=item, vm=vm, vm_name="web01",
                                 cloud_service_name="contoso-web", policy=policies.ensure_default_policy(vms_vault))
    text = alice_client.get(reverse("vm-list")).content.decode()
    for expected in ("web01", "Stopped", "contoso-web", "West US", "Windows Server 2012 R2 Datacenter",
                     "A3", "Classic", "Resource Manager", "Protected in Payroll"):
        assert expected in text, expected


def test_vm_list_query_count_does_not_grow_with_machines(alice_client, alpha, django_assert_max_num_queries):
    for _ in range(6):
        make_vm(alpha, files=False)
    with django_assert_max_num_queries(8):
        alice_client.get(reverse("vm-list"))


def test_cloud_service_list_counts_machines(alice_client, alpha):
    service = make_service(alpha, name="contoso-sql", region="North Europe")
    make_vm(alpha, service=service, files=False)
    make_vm(alpha, service=service, files=False)
    text = alice_client.get(reverse("cloud-service-list")).content.decode()
    assert "contoso-sql" in text and "North Europe" in text and "<td>2</td>" in text


def test_storage_list_shows_used_data_not_maximum_size(alice_client, alpha):
    make_vm(alpha, storage_kind=StorageAccount.Kind.STANDARD_GRS)
    text = alice_client.get(reverse("storage-list")).content.decode()
    assert "Standard (geo-redundant)" in text and "West US" in text
    # A size as shown ("12.5 MB"), not within the page's random CSRF token
    assert re.search(r"\d\s(KB|MB)\b", text)
    assert not re.search(r"\d\s(GB|TB)\b", text)
