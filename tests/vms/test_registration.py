"""Register: one job per machine; every limitation fails the job with the product's message and action."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backup.fabric import limits
from backup.fabric import messages as m
from backup.jobs.errors import ANOTHER_OPERATION_IN_PROGRESS, REGISTER_BUSY
from backup.jobs.models import JobStatus, Operation
from backup.vms.models import RegisteredItem, StorageAccount, VirtualMachine
from backup.vms.services import discovery, registration

from .helpers import make_service, make_vault, make_vm, run_jobs

# (limitation, machine fields): one machine per case the product refused at registration.
LIMITATIONS = [
    (limits.RESOURCE_MANAGER, {"deployment_model": "resource_manager"}),
    (limits.PREMIUM_STORAGE, {"storage_kind": StorageAccount.Kind.PREMIUM_LRS}),
    (limits.TOO_MANY_DATA_DISKS, {"data_disks": 17, "files": False}),
    (limits.MULTIPLE_RESERVED_IPS, {"reserved_ip_count": 2}),
    (limits.RESERVED_IP_NO_ENDPOINT, {"reserved_ip_count": 1, "endpoint_count": 0}),
    (limits.MULTIPLE_NICS, {"nic_count": 2}),
    (limits.LOAD_BALANCED, {"load_balanced": True}),
    (limits.UNSUPPORTED_OS, {"os_version": "Windows Server 2008 SP2"}),
    (limits.UNSUPPORTED_OS, {"os_version": "Windows Server 2003 R2"}),
    (limits.NO_VM_AGENT, {"agent_installed": False, "agent_version": ""}),
    (limits.VM_NOT_RUNNING, {"power_state": "Stopped"}),
    (limits.VM_NOT_RUNNING, {"power_state": "Deallocated"}),
]
IDS = [f"{lim.code}-{i}" for i, (lim, _) in enumerate(LIMITATIONS)]


@pytest.mark.parametrize(("limitation", "fields"), LIMITATIONS, ids=IDS)
def test_register_fails_with_the_products_message_for_each_limitation(alice, alpha, vms_vault, limitation, fields):
    vm = make_vm(alpha, **fields)
    [job] = run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    assert job.status == JobStatus.FAILED
    assert (job.error_message, job.recommended_action, job.error_code) == (
        limitation.message, limitation.recommended_action, limitation.code)
    item = RegisteredItem.objects.get(vault=vms_vault, vm=vm)
    assert item.status == RegisteredItem.Status.FAILED and item.status_reason == limitation.message
    vms_vault.refresh_from_db()
    assert not vms_vault.redundancy_locked
    vm.refresh_from_db()
    assert not vm.backup_extension_installed


def test_the_agent_and_power_messages_are_the_products_words():
    assert m.NO_VM_AGENT.endswith("VM Agent is a pre-requisite for Azure Recovery Services Extension. Please install "
                                  "the Azure VM agent and restart the registration operation")
    assert m.VM_NOT_RUNNING.startswith("Azure VM role is not in a state to install extension \u2013 Please check "
                                       "if the VM is in the Running state.")


def test_register_installs_the_extension_and_locks_the_vaults_redundancy(alice, alpha, vms_vault):
    vm = make_vm(alpha, name="web01")
    [job] = registration.start_registration(vms_vault, [vm.pk], alice)
    assert (job.operation, job.lock_key, job.item_type, job.item_id, job.vault_id, job.item_name) == (
        Operation.REGISTER, f"vm:{vm.pk}", "vm", vm.pk, vms_vault.pk, "web01")
    assert RegisteredItem.objects.get(vm=vm).status == RegisteredItem.Status.REGISTERING
    run_jobs(job)
    assert job.status == JobStatus.COMPLETED, job.error_message
    item = RegisteredItem.objects.get(vm=vm)
    assert item.status == RegisteredItem.Status.REGISTERED and item.registered_at
    vm.refresh_from_db()
    vms_vault.refresh_from_db()
    assert vm.backup_extension_installed
    assert vms_vault.redundancy_locked
    assert [s.name for s in job.subtasks.all()] == ["Check the virtual machine's configuration",
                                                    "Install the Azure Recovery Services extension"]


def test_linux_machines_register(alice, alpha, vms_vault):
    vm = make_vm(alpha, os_family="linux", os_version="OpenLogic CentOS 7.1")
    [job] = run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    assert job.status == JobStatus.COMPLETED
    assert job.result["Extension"].endswith("VMSnapshotLinux")


def test_a_second_operation_on_the_same_machine_fails_with_another_operation_in_progress(alice, alpha, vms_vault):
    vm = make_vm(alpha)
    [first] = registration.start_registration(vms_vault, [vm.pk], alice)
    [second] = registration.start_registration(vms_vault, [vm.pk], alice)
    assert first.status == JobStatus.IN_PROGRESS
    assert second.status == JobStatus.FAILED and second.error_message == REGISTER_BUSY
    assert ANOTHER_OPERATION_IN_PROGRESS.startswith("Command execution failed - Another operation is in progress on "
                                                    "this item. Please wait until the previous operation is completed.")
    assert RegisteredItem.objects.get(vm=vm).status == RegisteredItem.Status.REGISTERING


def test_a_machine_in_another_region_cannot_be_registered(alice, alpha, vms_vault):
    vm = make_vm(alpha, region="North Europe", files=False)
    with pytest.raises(ValidationError) as error:
        registration.start_registration(vms_vault, [vm.pk], alice)
    assert "West US" in error.value.message_dict["vm_ids"][0]
    assert not RegisteredItem.objects.exists()


def test_another_subscriptions_machine_cannot_be_registered(alice, alpha, gamma, vms_vault):
    vm = make_vm(gamma, files=False)
    with pytest.raises(ValidationError):
        registration.start_registration(vms_vault, [vm.pk], alice)


def test_a_machine_registered_with_one_vault_is_never_offered_by_another(alice, alpha, vms_vault):
    other = make_vault(alpha, name="Other")
    vm = make_vm(alpha)
    discovery.discover(vms_vault)
    discovery.discover(other)
    run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    assert list(registration.registrable_items(other)) == []
    discovery.discover(other)
    assert not other.registered_items.filter(vm=vm).exists()
    with pytest.raises(ValidationError):
        registration.start_registration(other, [vm.pk], alice)


def test_a_registration_left_behind_by_a_lost_worker_shows_the_jobs_failure(alice, alpha, vms_vault):
    from backup.jobs.runner import finish as _finish

    vm = make_vm(alpha)
    [job] = registration.start_registration(vms_vault, [vm.pk], alice)
    _finish(job.pk, JobStatus.FAILED, message="The worker running this job stopped.")
    item = RegisteredItem.objects.get(vm=vm)  # the job's clean-up, not a page, settled the item
    assert item.status == RegisteredItem.Status.FAILED
    assert "worker" in RegisteredItem.objects.get(vm=vm).status_reason


def test_register_dialog_tells_same_named_machines_apart_by_cloud_service(alice_client, alpha, vms_vault):
    web = make_service(alpha, name="contoso-web")
    app = make_service(alpha, name="contoso-app")
    make_vm(alpha, name="web01", service=web, files=False)
    make_vm(alpha, name="web01", service=app, files=False)
    make_vm(alpha, name="far01", region="East US", files=False)
    discovery.discover(vms_vault)
    text = alice_client.get(reverse("vault-register", args=[vms_vault.pk])).content.decode()
    assert text.count(">web01<") == 2
    assert "contoso-web" in text and "contoso-app" in text
    assert "far01" not in text


def test_register_dialog_starts_one_job_per_chosen_machine(alice_client, alpha, vms_vault):
    a, b = make_vm(alpha, files=False), make_vm(alpha, files=False)
    discovery.discover(vms_vault)
    r = alice_client.post(reverse("vault-register", args=[vms_vault.pk]), {"vm": [a.pk, b.pk]},
                          headers={"HX-Request": "true"})
    assert r["HX-Redirect"] == reverse("vault-registered", args=[vms_vault.pk])
    assert RegisteredItem.objects.filter(status=RegisteredItem.Status.REGISTERING).count() == 2


def test_register_dialog_says_when_nothing_was_chosen(alice_client, alpha, vms_vault):
    r = alice_client.post(reverse("vault-register", args=[vms_vault.pk]), {}, headers={"HX-Request": "true"})
    assert b"Choose at least one virtual machine" in r.content


def test_registering_rows_poll_and_stop_once_registered(alice, alice_client, alpha, vms_vault):
    vm = make_vm(alpha)
    [job] = registration.start_registration(vms_vault, [vm.pk], alice)
    page = alice_client.get(reverse("vault-registered", args=[vms_vault.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Registering" in page
    item = RegisteredItem.objects.get(vm=vm)
    url = reverse("vault-registered-row", args=[vms_vault.pk, item.pk])
    assert alice_client.get(url, headers={"HX-Request": "true"}).status_code == 200
    run_jobs(job)
    r = alice_client.get(url, headers={"HX-Request": "true"})
    assert r.status_code == 286 and b"Registered" in r.content and b"every 2s" not in r.content


def test_failed_registration_shows_the_reason_in_the_list(alice, alice_client, alpha, vms_vault):
    vm = make_vm(alpha, agent_installed=False, files=False)
    run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    page = alice_client.get(reverse("vault-registered", args=[vms_vault.pk])).content.decode()
    assert "Registration failed" in page and "VM Agent is a pre-requisite" in page


def test_failed_machines_are_offered_again(alice, alpha, vms_vault):
    vm = make_vm(alpha, power_state=VirtualMachine.PowerState.STOPPED, files=False)
    run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    assert [i.vm_id for i in registration.registrable_items(vms_vault)] == [vm.pk]
    VirtualMachine.objects.filter(pk=vm.pk).update(power_state="Running")
    [job] = run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    assert job.status == JobStatus.COMPLETED
