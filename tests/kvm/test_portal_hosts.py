"""The portal over a real libvirtd: add the host qemu:///system with a test pool, see no-OS domains with their
disks, allocation and agent state on VIRTUAL MACHINES and in the API, and register them (no agent channel: the
product's agent message; a channel nobody answers on: registered, crash-consistent only)."""

import pytest
from django.urls import reverse

from backup.fabric import limits
from backup.jobs.models import JobStatus
from backup.vms.models import HypervisorHost, RegisteredItem, VirtualMachine
from backup.vms.services import hosts, kvm_registration, registration
from tests.vms.helpers import make_vault, run_jobs

from .conftest import URI, MiB, unique

pytestmark = [pytest.mark.libvirt, pytest.mark.django_db]


def test_a_real_hosts_domains_are_listed_shown_and_registered(alice, alice_client, api_headers, client, alpha,
                                                              make_domain, pool, settings, work_dir):
    plain = make_domain([("vda", "qcow2", 64 * MiB), ("vdb", "raw", 32 * MiB)], fill=[("vda", 0, 4 * MiB, 0x5A)])
    with_channel = make_domain(agent=True)
    settings.KVM_AGENT_TIMEOUT_S = 1
    settings.KVM_WORK_DIR = work_dir
    host = hosts.add_host(alpha, unique("azbt-host"), URI, "West US", pool)
    assert (host.status, host.last_error) == (HypervisorHost.Status.CONNECTED, "")

    vm = VirtualMachine.objects.get(host=host, domain_uuid=plain.uuid)
    assert (vm.name, vm.power_state, vm.agent_installed, vm.agent_state, vm.size) == (
        plain.name, "Running", False, "absent", "1 vCPU, 64 MiB")
    vda, vdb = vm.disks.get(target="vda"), vm.disks.get(target="vdb")
    assert (vda.kind, vda.max_size, vda.disk_format, vda.trackable) == ("os", 64 * MiB, "qcow2", True)
    assert (vdb.kind, vdb.lun, vdb.max_size, vdb.disk_format, vdb.trackable) == ("data", 0, 32 * MiB, "raw", False)
    assert vda.allocation >= 4 * MiB  # the data written before the start
    assert vda.source_path == str(plain.disks["vda"].path)
    silent = VirtualMachine.objects.get(host=host, domain_uuid=with_channel.uuid)
    assert (silent.agent_installed, silent.agent_state) == (True, "not_responding")

    page = alice_client.get(reverse("vm-list")).content.decode()
    assert plain.name in page and f"KVM host {host.name}" in page
    details = alice_client.get(reverse("vm-detail", args=[vm.pk])).content.decode()
    assert "qcow2" in details and "raw" in details and "every backup reads the whole disk" in details
    api = client.get(f"/api/v1/vms/{vm.pk}", headers=api_headers(alice)).json()
    assert (api["host"], api["agent_state"], api["domain_uuid"]) == (host.name, "absent", plain.uuid)
    assert {d["key"]: (d["format"], d["max_size"], d["trackable"]) for d in api["disks"]} == {
        "vda": ("qcow2", 64 * MiB, True), "vdb": ("raw", 32 * MiB, False)}

    vault = make_vault(alpha, name=unique("vault"))
    [job] = run_jobs(registration.start_registration(vault, [vm.pk], alice))
    assert (job.status, job.error_message) == (JobStatus.FAILED, limits.NO_VM_AGENT.message)
    [job] = run_jobs(registration.start_registration(vault, [silent.pk], alice))
    assert job.status == JobStatus.COMPLETED, job.error_message
    item = RegisteredItem.objects.get(vault=vault, vm=silent)
    assert item.status_reason == kvm_registration.AGENT_NOT_RESPONDING

    # A domain undefined behind the portal's back goes as a deleted machine does.
    plain.remove()
    result = hosts.sync_host(host)
    assert plain.name in result.removed
    assert not VirtualMachine.objects.filter(domain_uuid=plain.uuid).exists()
    hosts.remove_host(HypervisorHost.objects.get(pk=host.pk))
