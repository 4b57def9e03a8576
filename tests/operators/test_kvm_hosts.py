"""KVM hosts in the admin (the add form goes through the hosts service, errors on their fields; Sync now and
Remove actions) and in `manage.py backup host ...` (libvirt faked: tests/kvm_fakes.py)."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from backup.vms.models import HypervisorHost, ProtectedItem, VirtualMachine
from backup.vms.services import hosts
from tests import kvm_fakes
from tests.factories import make_vault, protect
from tests.kvm_fakes import URI, disk, domain


@pytest.fixture
def fake(monkeypatch):
    fake = kvm_fakes.install(monkeypatch)
    fake.add_domain(URI, domain("web01", disks=(disk("vda", 0), disk("vdb", 1, fmt="raw"))))
    return fake


def _add_form(**fields) -> dict:
    return {"subscription": "", "name": "kvm1", "uri": URI, "region": "West US", "storage_pool": "default"} | fields


def test_the_admin_adds_a_host_through_the_service(operator_client, alpha, fake):
    url = reverse("admin:vms_hypervisorhost_add")
    assert operator_client.get(url).status_code == 200
    response = operator_client.post(url, _add_form(subscription=alpha.pk))
    assert response.status_code == 302, response.content.decode()[:2000]
    host = HypervisorHost.objects.get(name="kvm1")
    assert (host.cloud_service.name, host.status) == ("kvm1", "Connected")
    assert VirtualMachine.objects.filter(host=host, name="web01").exists()
    page = operator_client.get(reverse("admin:vms_hypervisorhost_changelist")).content.decode()
    for expected in ("kvm1", URI, "Connected", "default"):
        assert expected in page, expected
    assert operator_client.get(reverse("admin:vms_hypervisorhost_change", args=[host.pk])).status_code == 200


def test_the_admin_add_form_shows_the_services_errors_on_their_fields(operator_client, alpha, fake):
    url = reverse("admin:vms_hypervisorhost_add")
    page = operator_client.post(url, _add_form(subscription=alpha.pk, storage_pool="fast")).content.decode()
    assert "The host has no active storage pool named &#x27;fast&#x27;" in page
    assert 'class="errorlist' in page
    fake.down.add(URI)
    page = operator_client.post(url, _add_form(subscription=alpha.pk)).content.decode()
    assert "Could not connect to the host: " in page
    assert not HypervisorHost.objects.exists()


def test_sync_now_and_remove_actions(operator_client, alpha, fake):
    host = hosts.add_host(alpha, "kvm1", URI, "West US", "default")
    fake.add_domain(URI, domain("db01"))
    changelist = reverse("admin:vms_hypervisorhost_changelist")
    response = operator_client.post(changelist, {"action": "sync_now", "_selected_action": [host.pk]}, follow=True)
    assert "Host kvm1: 2 domain(s): 1 added, 0 updated, 0 removed." in response.content.decode()
    vault = make_vault(alpha)
    item = protect(vault, VirtualMachine.objects.get(name="db01"))
    response = operator_client.post(changelist, {"action": "remove_hosts", "_selected_action": [host.pk]},
                                    follow=True)
    assert "cannot be removed while its virtual machines are protected (db01)" in response.content.decode()
    ProtectedItem.objects.filter(pk=item.pk).update(status=ProtectedItem.Status.STOPPED)
    operator_client.post(changelist, {"action": "remove_hosts", "_selected_action": [host.pk]})
    assert not HypervisorHost.objects.exists()


def test_support_can_look_but_not_add_or_act(support_client, alpha, fake):
    host = hosts.add_host(alpha, "kvm1", URI, "West US", "default")
    assert support_client.get(reverse("admin:vms_hypervisorhost_changelist")).status_code == 200
    assert support_client.get(reverse("admin:vms_hypervisorhost_add")).status_code == 403
    support_client.post(reverse("admin:vms_hypervisorhost_changelist"),
                        {"action": "remove_hosts", "_selected_action": [host.pk]})
    assert HypervisorHost.objects.filter(pk=host.pk).exists()


def backup(*args) -> str:
    out = io.StringIO()
    call_command("backup", "--user", "alice", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def failure(*args) -> CommandError:
    with pytest.raises(CommandError) as raised:
        backup(*args)
    return raised.value


def test_the_cli_adds_lists_syncs_and_removes_hosts(alice, alpha, fake):
    text = backup("host", "add", "kvm1", "--uri", URI, "--region", "West US", "--pool", "default",
                  "--subscription", "Alpha")
    assert "KVM host 'kvm1' added" in text
    assert "web01" in text and "vda qcow2" in text and "vdb raw" in text
    [listed] = json.loads(backup("host", "list", "--json"))
    assert (listed["name"], listed["uri"], listed["region"], listed["storage_pool"], listed["vm_count"]) == (
        "kvm1", URI, "West US", "default", 1)
    assert "kvm1" in backup("host", "list")
    fake.add_domain(URI, domain("db01"))
    assert "2 domain(s): 1 added, 0 updated, 0 removed." in backup("host", "sync", "kvm1")
    fake.down.add(URI)
    refused = failure("host", "sync", "kvm1")
    assert refused.returncode == 1 and "could not be reached" in str(refused)
    fake.down.clear()
    vault = make_vault(alpha)
    protect(vault, VirtualMachine.objects.get(name="db01"))
    refused = failure("host", "remove", "kvm1")
    assert refused.returncode == 1
    assert "cannot be removed while its virtual machines are protected (db01)" in str(refused)
    assert failure("host", "sync", "nope").returncode == 3


def test_the_cli_reports_field_errors(alice, alpha, fake):
    error = failure("host", "add", "kvm1", "--uri", URI, "--region", "Mars", "--pool", "fast",
                    "--subscription", "Alpha")
    assert "region: Choose one of the regions" in str(error)
    error = failure("host", "add", "kvm1", "--uri", URI, "--region", "West US", "--pool", "fast",
                    "--subscription", "Alpha")
    assert "storage_pool: The host has no active storage pool named 'fast'" in str(error)
