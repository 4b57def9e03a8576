"""KVM hosts: adding one (each bad input answers on its field), syncing its domains into machines and disks,
an unreachable host, vanished domains, Discover, registration's agent checks and notes, billing and the guest
workload. libvirt is faked here (tests/kvm_fakes.py); tests/vms/test_kvm_libvirt.py runs the real one."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from backup.billing.services.usage import protected_instance_bytes
from backup.fabric import limits
from backup.jobs.models import JobStatus
from backup.vms.models import (
    CloudService,
    HypervisorHost,
    ProtectedItem,
    RegisteredItem,
    StorageAccount,
    VirtualDisk,
    VirtualMachine,
)
from backup.vms.services import discovery, guest, hosts, kvm_registration, registration
from backup.vms.tasks import sync_kvm_hosts
from tests import kvm_fakes
from tests.factories import make_policy, protect
from tests.kvm_fakes import URI, GiB, MiB, disk, domain

from .helpers import make_service, make_vault, run_jobs


@pytest.fixture
def fake(monkeypatch):
    return kvm_fakes.install(monkeypatch)


def add(subscription, name="kvm1", uri=URI, region="West US", pool="default") -> HypervisorHost:
    return hosts.add_host(subscription, name, uri, region, pool)


def field_errors(call) -> dict:
    with pytest.raises(ValidationError) as raised:
        call()
    return raised.value.message_dict


def test_adding_a_host_creates_its_cloud_service_and_storage_account_and_lists_its_domains(alpha, fake):
    web = fake.add_domain(URI, domain("web01", disks=(disk("vda", 0, allocation=700 * MiB),
                                                      disk("vdb", 1, capacity=10 * GiB, allocation=2 * GiB),
                                                      disk("vdc", 2, fmt="raw", allocation=GiB))))
    fake.add_domain(URI, domain("idle", state="shut off", agent_channel=False, agent_responds=False, os_type="",
                                vcpus=1, memory_mib=512))
    host = add(alpha, name="Kvm-1")
    assert (host.status, host.last_error, host.region, host.storage_pool) == ("Connected", "", "West US", "default")
    assert host.last_synced_at is not None
    assert (host.cloud_service.name, host.cloud_service.region, host.cloud_service.subscription) == (
        "Kvm-1", "West US", alpha)
    account = host.storage_account
    assert account.name == "kvmkvm1" and account.region == "West US" and not account.folder.exists()
    vm = VirtualMachine.objects.get(host=host, name="web01")
    assert (vm.domain_uuid, vm.cloud_service, vm.subscription, vm.deployment_model) == (
        web.uuid, host.cloud_service, alpha, "classic")
    assert (vm.os_family, vm.os_version, vm.power_state, vm.size) == ("linux", "Linux", "Running", "2 vCPU, 1024 MiB")
    assert (vm.agent_installed, vm.agent_state) == (True, VirtualMachine.AgentState.RESPONDING)
    rows = [(d.key, d.kind, d.lun, d.max_size, d.allocation, d.disk_format, d.trackable, d.storage_account_id)
            for d in vm.disks.order_by("kind", "lun")]
    assert rows == [("vdb", "data", 0, 10 * GiB, 2 * GiB, "qcow2", True, account.pk),
                    ("vdc", "data", 1, 4 * GiB, GiB, "raw", False, account.pk),
                    ("vda", "os", 0, 4 * GiB, 700 * MiB, "qcow2", True, account.pk)]
    assert vm.disks.get(target="vda").source_path == "/pool/vda.img"
    idle = VirtualMachine.objects.get(host=host, name="idle")
    assert (idle.power_state, idle.agent_installed, idle.agent_state, idle.os_version, idle.size) == (
        "Stopped", False, "absent", "Unknown operating system", "1 vCPU, 512 MiB")
    assert fake.opened == fake.closed == 1


def test_each_bad_input_is_a_clear_error_on_its_field(alpha, fake):
    CloudService.objects.create(subscription=alpha, name="taken", region="West US")
    assert field_errors(lambda: add(alpha, name="taken")) == {
        "name": ["The name 'taken' is already used by a KVM host or a cloud service. Choose another name."]}
    assert set(field_errors(lambda: add(alpha, name="-bad_name")).keys()) == {"name"}
    errors = field_errors(lambda: add(alpha, uri="", region="Mars", pool=" "))
    assert set(errors) == {"uri", "region", "storage_pool"}
    assert errors["uri"] == [hosts.URI_REQUIRED]
    fake.down.add(URI)
    [message] = field_errors(lambda: add(alpha))["uri"]
    assert message.startswith("Could not connect to the host: Cannot connect to libvirtd")
    fake.down.clear()
    [message] = field_errors(lambda: add(alpha, pool="fast"))["storage_pool"]
    assert message == "The host has no active storage pool named 'fast': no storage pool named 'fast' is active"
    assert not HypervisorHost.objects.exists()
    assert not StorageAccount.objects.exists()
    assert list(CloudService.objects.values_list("name", flat=True)) == ["taken"]
    add(alpha)
    assert field_errors(lambda: add(alpha, name="kvm2")) == {
        "uri": [f"The libvirt host at {URI} is already added, as 'kvm1'."]}


def test_storage_account_names_are_short_lowercase_and_unique(alpha):
    long_name = "Rack7-node42-west-europe-long"
    assert hosts.storage_account_name(long_name) == "kvmrack7node42westeurope"
    StorageAccount.objects.create(subscription=alpha, name="kvmrack7node42westeurope", region="West US")
    assert hosts.storage_account_name(long_name) == "kvmrack7node42westeurop1"


def test_a_sync_updates_what_changed_and_forgets_vanished_domains_like_deleted_machines(alpha, fake):
    web = fake.add_domain(URI, domain("web01", disks=(disk("vda", 0), disk("vdb", 1))))
    gone = fake.add_domain(URI, domain("old01"))
    host = add(alpha)
    vault_item = protect(_vault(alpha), VirtualMachine.objects.get(name="old01"))
    web_vm = VirtualMachine.objects.get(name="web01")
    fake.replace_domain(URI, domain("web01", uuid=web.uuid, state="shut off", agent_responds=False, vcpus=4,
                                    disks=(disk("vda", 0, allocation=900 * MiB), disk("vdc", 1, fmt="raw"))))
    fake.remove_domain(URI, gone.uuid)
    fake.add_domain(URI, domain("new01"))
    result = hosts.sync_host(host)
    assert (result.found, result.added, result.updated, result.removed) == (2, ["new01"], ["web01"], ["old01"])
    web_vm.refresh_from_db()
    assert web_vm.pk == VirtualMachine.objects.get(name="web01").pk
    assert (web_vm.power_state, web_vm.agent_state, web_vm.size) == ("Stopped", "not_responding", "4 vCPU, 1024 MiB")
    assert [(d.key, d.kind, d.lun, d.allocation, d.trackable) for d in web_vm.disks.order_by("kind", "lun")] == [
        ("vdc", "data", 0, 300 * MiB, False), ("vda", "os", 0, 900 * MiB, True)]
    # The vanished domain's item keeps its data and its name; backups of it now fail with "VM no longer exists".
    vault_item.refresh_from_db()
    assert (vault_item.vm, vault_item.vm_name, vault_item.status) == (None, "old01", ProtectedItem.Status.PENDING)
    assert not VirtualMachine.objects.filter(name="old01").exists()
    assert hosts.sync_host(host).updated == []  # nothing changed since


def test_an_unreachable_host_says_why_and_keeps_its_machines(alpha, fake):
    fake.add_domain(URI, domain("web01"))
    host = add(alpha)
    fake.down.add(URI)
    result = hosts.sync_host(host)
    assert not result.ok
    host.refresh_from_db()
    assert host.status == "Unavailable"
    assert host.last_error == result.error == (f"The host could not be reached: Cannot connect to libvirtd at {URI}: "
                                               "connection refused.")
    assert VirtualMachine.objects.filter(host=host, name="web01").exists()
    fake.down.clear()
    assert hosts.sync_host(host).ok
    host.refresh_from_db()
    assert (host.status, host.last_error) == ("Connected", "")


def _vault(subscription, region="West US"):
    return make_vault(subscription, region=region, name=f"v-{region}")


def test_discover_syncs_the_hosts_of_the_vaults_subscription_and_region_first(alice, alpha, beta, fake):
    host = add(alpha)
    other_region = kvm_fakes.URI + "?east"
    fake.pools[other_region] = {"default"}
    east = add(alpha, name="kvm-east", uri=other_region, region="East US")
    fake.add_domain(URI, domain("web01"))
    fake.add_domain(other_region, domain("east01"))
    vault = _vault(alpha)
    [job] = run_jobs(discovery.start_discovery(vault, alice))
    assert job.status == JobStatus.COMPLETED
    assert list(vault.registered_items.values_list("vm_name", "cloud_service_name")) == [("web01", "kvm1")]
    assert not VirtualMachine.objects.filter(host=east).exists()  # another region's host is not asked
    fake.down.add(URI)
    [job] = run_jobs(discovery.start_discovery(vault, alice))
    assert job.status == JobStatus.COMPLETED
    assert job.result["KVM hosts not reached"].startswith("kvm1: The host could not be reached: ")
    assert vault.registered_items.filter(vm__host=host).count() == 1


def _register(alice, vault, vm) -> tuple:
    [job] = run_jobs(registration.start_registration(vault, [vm.pk], alice))
    item = RegisteredItem.objects.get(vault=vault, vm=vm)
    return job, item


def test_registering_a_domain_checks_its_agent_channel_with_the_products_message(alice, alpha, fake):
    info = fake.add_domain(URI, domain("web01", agent_channel=False, agent_responds=False))
    add(alpha)
    vm = VirtualMachine.objects.get(name="web01")
    job, item = _register(alice, _vault(alpha), vm)
    assert (job.status, job.error_message, job.recommended_action) == (
        JobStatus.FAILED, limits.NO_VM_AGENT.message, limits.NO_VM_AGENT.recommended_action)
    assert (item.status, item.status_reason) == ("failed", limits.NO_VM_AGENT.message)
    # Registration reads the domain afresh: an agent channel added since the last sync counts.
    fake.replace_domain(URI, domain("web01", uuid=info.uuid))
    job, item = _register(alice, item.vault, vm)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.result == {"Guest agent": "qemu-guest-agent: guest agent responding"}
    assert (item.status, item.status_reason) == ("registered", "")
    vm.refresh_from_db()
    assert vm.backup_extension_installed and vm.agent_state == "responding"


def test_a_silent_agent_and_untracked_disks_register_with_notes(alice, alpha, fake):
    fake.add_domain(URI, domain("db01", agent_responds=False, disks=(
        disk("vda", 0), disk("vdb", 1, fmt="raw"), disk("sda", 2, fmt="raw", path="/dev/sdb", source_type="block"),
        disk("vdd", 3, fmt="raw", path="", source_type="network"))))
    add(alpha)
    vm = VirtualMachine.objects.get(name="db01")
    job, item = _register(alice, _vault(alpha), vm)
    assert job.status == JobStatus.COMPLETED, job.error_message
    notes = kvm_registration.notes(vm)
    assert notes == [
        kvm_registration.AGENT_NOT_RESPONDING,
        "Disk vdb cannot be change-tracked (raw format; only qcow2 image files keep checkpoints): every backup of "
        "it reads the whole disk.",
        "Disk sda cannot be change-tracked (a block device): every backup of it reads the whole disk.",
        "Disk vdd cannot be change-tracked (a network disk): every backup of it reads the whole disk.",
    ]
    assert item.status_reason == " ".join(notes)
    assert job.result["Notes"] == " ".join(notes)
    assert "crash-consistent" in job.result["Notes"]


def test_registration_applies_the_data_disk_limit_and_the_power_state(alice, alpha, fake):
    many = tuple(disk(f"vd{chr(ord('a') + i)}", i) for i in range(18))  # an OS disk and 17 data disks
    fake.add_domain(URI, domain("big01", disks=many))
    fake.add_domain(URI, domain("off01", state="shut off", agent_responds=False))
    add(alpha)
    vault = _vault(alpha)
    job, _ = _register(alice, vault, VirtualMachine.objects.get(name="big01"))
    assert (job.status, job.error_message) == (JobStatus.FAILED, limits.TOO_MANY_DATA_DISKS.message)
    job, _ = _register(alice, vault, VirtualMachine.objects.get(name="off01"))
    assert (job.status, job.error_message) == (JobStatus.FAILED, limits.VM_NOT_RUNNING.message)


def test_registration_of_a_vanished_domain_or_on_an_unreachable_host_fails_clearly(alice, alpha, fake):
    info = fake.add_domain(URI, domain("web01"))
    add(alpha)
    vm = VirtualMachine.objects.get(name="web01")
    vault = _vault(alpha)
    fake.down.add(URI)
    job, item = _register(alice, vault, vm)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "HostUnavailable")
    assert job.error_message == (f"The KVM host 'kvm1' could not be reached: Cannot connect to libvirtd at {URI}: "
                                 "connection refused.")
    fake.down.clear()
    fake.remove_domain(URI, info.uuid)
    job, item = _register(alice, vault, vm)
    assert (job.status, job.error_message) == (JobStatus.FAILED, registration.VM_NOT_FOUND)


def test_removing_a_host_is_refused_while_its_machines_are_protected(alpha, fake):
    fake.add_domain(URI, domain("web01"))
    host = add(alpha)
    vault = _vault(alpha)
    item = protect(vault, VirtualMachine.objects.get(name="web01"), make_policy(vault))
    with pytest.raises(ValidationError) as refused:
        hosts.remove_host(host)
    assert refused.value.messages == [
        "The host 'kvm1' cannot be removed while its virtual machines are protected (web01). Stop protection of "
        "them first."]
    ProtectedItem.objects.filter(pk=item.pk).update(status=ProtectedItem.Status.STOPPED)
    hosts.remove_host(host)
    assert not HypervisorHost.objects.exists()
    assert not VirtualMachine.objects.filter(name="web01").exists()
    assert not CloudService.objects.filter(name="kvm1").exists()
    assert not StorageAccount.objects.filter(name="kvmkvm1").exists()
    item.refresh_from_db()
    assert (item.vm, item.vm_name) == (None, "web01")  # its recovery points stay restorable


def test_billing_counts_the_allocation_the_last_sync_recorded(alpha, fake):
    fake.add_domain(URI, domain("web01", disks=(disk("vda", 0, allocation=724 * MiB),
                                                disk("vdb", 1, allocation=300 * MiB))))
    add(alpha)
    assert protected_instance_bytes(VirtualMachine.objects.get(name="web01")) == GiB


def test_the_guest_workload_leaves_kvm_machines_alone(alpha, fake):
    fake.add_domain(URI, domain("web01"))
    add(alpha)
    vm = VirtualMachine.objects.get(name="web01")
    simulated = VirtualMachine.objects.create(subscription=alpha, cloud_service=make_service(alpha), name="sim",
                                              power_state="Stopped")
    assert guest.write_guest_files(vm).bytes_written == 0
    assert guest.run_guest_workload() == {}
    assert guest.run_guest_workload(vm_id=vm.pk) == {}
    assert str(simulated) not in guest.run_guest_workload(vm_id=vm.pk)
    assert VirtualDisk.objects.filter(vm=vm).count() == 1


def test_beat_syncs_every_host_every_five_minutes(alpha, fake, settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sync-kvm-hosts"]
    assert (entry["task"], entry["schedule"]) == (sync_kvm_hosts.name, 300.0)
    host = add(alpha)
    fake.add_domain(URI, domain("web01"))
    assert sync_kvm_hosts() == 0
    assert VirtualMachine.objects.filter(host=host, name="web01").exists()
    fake.down.add(URI)
    assert sync_kvm_hosts() == 1


def test_a_machine_being_restored_is_left_alone_then_adopted_when_its_domain_appears(alpha, fake):
    host = add(alpha)
    # The restore job makes the row first (no domain yet), then defines the domain under that name.
    restoring = VirtualMachine.objects.create(subscription=alpha, cloud_service=host.cloud_service, host=host,
                                              name="web01-restored", power_state="Stopped")
    assert hosts.sync_host(host).removed == []
    assert VirtualMachine.objects.filter(pk=restoring.pk).exists()
    info = fake.add_domain(URI, domain("web01-restored"))
    result = hosts.sync_host(host)
    assert (result.added, result.updated) == ([], ["web01-restored"])
    restoring.refresh_from_db()
    assert (restoring.domain_uuid, restoring.power_state) == (info.uuid, "Running")


def test_domains_that_swapped_names_keep_their_rows(alpha, fake):
    a, b = fake.add_domain(URI, domain("alpha")), fake.add_domain(URI, domain("beta"))
    host = add(alpha)
    rows = dict(VirtualMachine.objects.filter(host=host).values_list("domain_uuid", "pk"))
    fake.replace_domain(URI, domain("beta", uuid=a.uuid))
    fake.replace_domain(URI, domain("alpha", uuid=b.uuid))
    result = hosts.sync_host(host)
    assert (sorted(result.updated), result.skipped) == (["alpha", "beta"], [])
    assert dict(VirtualMachine.objects.filter(host=host).values_list("domain_uuid", "name")) == {
        a.uuid: "beta", b.uuid: "alpha"}
    assert dict(VirtualMachine.objects.filter(host=host).values_list("domain_uuid", "pk")) == rows


def test_a_domain_whose_name_a_restore_still_holds_waits(alpha, fake):
    host = add(alpha)
    VirtualMachine.objects.create(subscription=alpha, cloud_service=host.cloud_service, host=host, name="web01",
                                  power_state="Stopped")
    other = fake.add_domain(URI, domain("web01-old"))
    hosts.sync_host(host)
    fake.replace_domain(URI, domain("web01", uuid=other.uuid))  # renamed onto the restore's name
    fake.add_domain(URI, domain("db01"))
    result = hosts.sync_host(host)
    assert (result.ok, result.skipped, result.added) == (True, ["web01"], ["db01"])
    assert VirtualMachine.objects.get(domain_uuid=other.uuid).name == "web01-old"  # as last seen, until then


def test_the_guest_writes_command_refuses_a_kvm_machine_with_a_reason(alpha, fake):
    fake.add_domain(URI, domain("web01"))
    add(alpha)
    vm = VirtualMachine.objects.get(name="web01")
    with pytest.raises(CommandError) as refused:
        call_command("guest_writes", "--vm", str(vm.pk), stdout=io.StringIO())
    assert str(refused.value) == (f"Virtual machine {vm.pk} is a domain of the KVM host 'kvm1': a real guest writes "
                                  "to its own disks, the simulated workload does not touch it.")
