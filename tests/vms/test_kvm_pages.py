"""KVM domains on VIRTUAL MACHINES, their details page, the registration notes where the user registers and on
the protected item, and the API's fields (libvirt faked: tests/kvm_fakes.py)."""

import pytest
from django.urls import reverse

from backup.vms.models import ProtectedItem, RegisteredItem, VirtualMachine
from backup.vms.services import discovery, hosts, kvm_registration, policies, registration
from tests import kvm_fakes
from tests.kvm_fakes import URI, GiB, MiB, disk, domain

from .helpers import make_vm, run_jobs


@pytest.fixture
def kvm_host(monkeypatch, alpha):
    fake = kvm_fakes.install(monkeypatch)
    fake.add_domain(URI, domain("web01", agent_responds=False, disks=(
        disk("vda", 0, capacity=8 * GiB, allocation=1536 * MiB), disk("vdb", 1, fmt="raw", capacity=2 * GiB,
                                                                        allocation=2 * GiB))))
    host = hosts.add_host(alpha, "kvm1", URI, "West US", "default")
    return host, fake


def test_the_vm_list_shows_kvm_domains_beside_simulated_machines_with_where_they_run(alice_client, alpha, kvm_host):
    make_vm(alpha, name="sim01", files=False)
    text = alice_client.get(reverse("vm-list")).content.decode()
    vm = VirtualMachine.objects.get(name="web01")
    assert "sim01" in text and "Simulated fabric" in text
    for expected in ("web01", "KVM host kvm1", "Guest agent not responding", "2 vCPU, 1024 MiB", "Linux",
                     reverse("vm-detail", args=[vm.pk])):
        assert expected in text, expected


def test_an_unreachable_host_is_said_on_its_machines(alice_client, alpha, kvm_host):
    host, fake = kvm_host
    fake.down.add(URI)
    hosts.sync_host(host)
    assert "(host unavailable)" in alice_client.get(reverse("vm-list")).content.decode()
    vm = VirtualMachine.objects.get(name="web01")
    page = alice_client.get(reverse("vm-detail", args=[vm.pk])).content.decode()
    assert "The host could not be reached: " in page


def test_the_vm_details_show_disks_with_sizes_format_allocation_and_the_agent(alice_client, kvm_host):
    vm = VirtualMachine.objects.get(name="web01")
    page = alice_client.get(reverse("vm-detail", args=[vm.pk])).content.decode()
    for expected in ("KVM host kvm1", vm.domain_uuid, "qemu-guest-agent: guest agent not responding", "vda",
                     "OS disk", "8.0\xa0GB", "1.5\xa0GB", "qcow2", "vdb", "LUN 0", "raw", "2.0\xa0GB",
                     "every backup reads the whole disk", "/pool/vda.img", kvm_registration.AGENT_NOT_RESPONDING):
        assert expected in page, expected


def test_another_subscriptions_machine_details_are_not_found(charlie_client, kvm_host):
    vm = VirtualMachine.objects.get(name="web01")
    assert charlie_client.get(reverse("vm-detail", args=[vm.pk])).status_code == 404


def test_the_register_dialog_says_which_candidates_are_kvm_domains(alice_client, kvm_host, vms_vault):
    discovery.discover(vms_vault)
    page = alice_client.get(reverse("vault-register", args=[vms_vault.pk])).content.decode()
    assert "web01" in page and "(KVM &middot; Guest agent not responding)" in page


def test_the_notes_show_on_the_registered_items_and_on_the_protected_item(alice, alice_client, alpha, kvm_host,
                                                                          vms_vault):
    vm = VirtualMachine.objects.get(name="web01")
    [job] = run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    assert job.status == "completed", job.error_message
    page = alice_client.get(reverse("vault-registered", args=[vms_vault.pk])).content.decode()
    assert kvm_registration.AGENT_NOT_RESPONDING in page
    assert "Disk vdb cannot be change-tracked" in page
    registered = RegisteredItem.objects.get(vm=vm)
    item = ProtectedItem.objects.create(vault=vms_vault, registered_item=registered, vm=vm, vm_name=vm.name,
                                        cloud_service_name="kvm1", policy=policies.ensure_default_policy(vms_vault))
    page = alice_client.get(reverse("vault-protected-item", args=[vms_vault.pk, item.pk])).content.decode()
    assert "Disk vdb cannot be change-tracked" in page


def test_the_api_exposes_host_agent_state_and_disks(client, alice, charlie, api_headers, kvm_host):
    host, _ = kvm_host
    vm = VirtualMachine.objects.get(name="web01")
    [listed] = client.get("/api/v1/vms", headers=api_headers(alice)).json()
    one = client.get(f"/api/v1/vms/{vm.pk}", headers=api_headers(alice)).json()
    assert listed == one
    assert (one["host"], one["cloud_service"], one["domain_uuid"], one["agent_state"], one["power_state"]) == (
        "kvm1", "kvm1", vm.domain_uuid, "not_responding", "Running")
    assert one["disks"] == [
        {"key": "vdb", "kind": "data", "lun": 0, "max_size": 2 * GiB, "format": "raw", "allocation": 2 * GiB,
         "trackable": False, "source_path": "/pool/vdb.img"},
        {"key": "vda", "kind": "os", "lun": 0, "max_size": 8 * GiB, "format": "qcow2", "allocation": 1536 * MiB,
         "trackable": True, "source_path": "/pool/vda.img"},
    ]
    [account] = [a for a in client.get("/api/v1/storage-accounts", headers=api_headers(alice)).json()
                 if a["name"] == host.storage_account.name]
    assert account["used_bytes"] == 1536 * MiB + 2 * GiB  # the allocation the sync recorded
    [listed_host] = client.get("/api/v1/hosts", headers=api_headers(alice)).json()
    assert (listed_host["name"], listed_host["uri"], listed_host["status"], listed_host["vm_count"],
            listed_host["storage_account"]) == ("kvm1", URI, "Connected", 1, host.storage_account.name)
    assert client.get(f"/api/v1/vms/{vm.pk}", headers=api_headers(charlie)).status_code == 404
    assert client.get("/api/v1/hosts", headers=api_headers(charlie)).json() == []


def test_cloud_services_and_storage_say_which_belong_to_a_host(alice_client, kvm_host):
    host, fake = kvm_host
    services = alice_client.get(reverse("cloud-service-list")).content.decode()
    assert "KVM host" in services and URI in services
    storage = alice_client.get(reverse("storage-list")).content.decode()
    assert "KVM host kvm1 &middot; pool default" in storage and "3.5\xa0GB" in storage
    fake.down.add(URI)
    hosts.sync_host(host)
    assert "Host unavailable" in alice_client.get(reverse("cloud-service-list")).content.decode()
