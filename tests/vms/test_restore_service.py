"""The restore service: a recovery point rebuilt into a new machine or into disks only, and every refusal."""

import shutil

import pytest
from django.core.exceptions import ValidationError

from backup.jobs.models import JobStatus
from backup.notifications.models import Notification
from backup.vms.models import CloudService, StorageAccount, VirtualDisk, VirtualMachine
from backup.vms.services import restore
from tests.factories import make_protected_item, make_vm

from .helpers import run_jobs
from .restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
    same_content,
)


@pytest.fixture
def backed_up(alpha, alice):
    item = make_protected_item(alpha, os_mib=1, data_mib=0.5)
    point = back_up(item, alice)
    return item, point


def _account(alpha, kind=StorageAccount.Kind.STANDARD_LRS, region="West US", name="restoresa"):
    account = StorageAccount.objects.create(subscription=alpha, name=name, region=region, kind=kind)
    shutil.rmtree(account.folder, ignore_errors=True)  # ids restart after a rolled-back test
    return account


def _errors(call) -> dict:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.message_dict


def test_restore_to_a_new_vm_in_a_new_cloud_service_makes_a_running_unprotected_copy(backed_up, alpha, alice):
    item, point = backed_up
    account = _account(alpha)
    job = restore.start_restore(point, user=alice, vm_name="web01-r", cloud_service="web01-restored",
                                storage_account=account.name)
    note = Notification.objects.get(user=alice, key=f"job-{job.pk}")
    assert note.title == "Restore job created" and note.link_label == "VIEW JOB"
    job = run_jobs(job)[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert [s.name for s in job.subtasks.all()] == ["Prepare target", "Restore disks", "Create virtual machine"]
    vm = VirtualMachine.objects.get(name="web01-r")
    assert vm.cloud_service.name == "web01-restored" and vm.cloud_service.region == "West US"
    assert vm.power_state == "Running" and vm.agent_installed and not vm.backup_extension_installed
    assert not vm.registrations.exists() and not vm.protections.exists()
    source = {d.key: d for d in item.vm.disks.all()}
    for disk in vm.disks.exclude(kind="resource"):
        assert disk.storage_account == account
        assert same_content(disk.path, source[disk.key].path)
    resource = vm.disks.get(kind="resource")
    assert resource.path.exists() and resource.path.stat().st_blocks == 0


def test_restoring_over_an_existing_vm_name_is_refused(backed_up, alpha):
    item, point = backed_up
    account = _account(alpha)
    errors = _errors(lambda: restore.start_restore(point, vm_name=item.vm.name.upper(),
                                                   cloud_service=item.vm.cloud_service.name,
                                                   storage_account=account.name))
    assert errors["vm_name"] == [restore.REPLACE_REFUSED]


def test_a_new_cloud_service_needs_a_globally_unique_dns_name(backed_up, alpha, gamma):
    _, point = backed_up
    account = _account(alpha)
    CloudService.objects.create(subscription=gamma, name="taken-name", region="West US")
    errors = _errors(lambda: restore.start_restore(point, vm_name="x1", cloud_service="taken-name",
                                                   create_cloud_service=True, storage_account=account.name))
    assert errors["cloud_service"] == [restore.DNS_NAME_TAKEN]
    # Without the flag, a name of another subscription is not "existing" for this user either.
    errors = _errors(lambda: restore.start_restore(point, vm_name="x1", cloud_service="taken-name",
                                                   create_cloud_service=False, storage_account=account.name))
    assert "No cloud service named" in errors["cloud_service"][0]


def test_a_storage_account_of_another_region_is_refused(backed_up, alpha):
    _, point = backed_up
    account = _account(alpha, region="East US", name="eastsa")
    errors = _errors(lambda: restore.start_restore(point, vm_name="x1", cloud_service="new-cs-1",
                                                   storage_account=account.name))
    assert errors["storage_account"] == [restore.WRONG_REGION]


@pytest.mark.parametrize("kind", [StorageAccount.Kind.STANDARD_ZRS, StorageAccount.Kind.PREMIUM_LRS])
def test_zone_redundant_and_premium_storage_accounts_are_refused(backed_up, alpha, kind):
    _, point = backed_up
    account = _account(alpha, kind=kind, name="oddsa")
    errors = _errors(lambda: restore.start_restore(point, vm_name="x1", cloud_service="new-cs-2",
                                                   storage_account=account.name))
    assert errors["storage_account"] == [restore.UNSUPPORTED_ACCOUNT]
    assert account not in restore.storage_accounts_for(point.vault)


def test_a_subnet_must_exist_in_the_bound_virtual_network(backed_up, alpha):
    _, point = backed_up
    account = _account(alpha)
    CloudService.objects.create(subscription=alpha, name="in-vnet", region="West US", virtual_network="corp",
                                subnets=["front", "back"])
    errors = _errors(lambda: restore.start_restore(point, vm_name="x1", cloud_service="in-vnet",
                                                   storage_account=account.name, subnet="nowhere"))
    assert errors["subnet"] == [restore.NO_SUCH_SUBNET]
    target = restore.validate_restore(point, vm_name="x1", cloud_service="in-vnet", storage_account=account.name)
    assert (target.virtual_network, target.subnet) == ("corp", "front")


def test_a_domain_controller_of_a_multi_dc_domain_restores_as_disks_only(alpha, alice):
    item = make_protected_item(alpha, os_mib=1, data_mib=0.5, domain_controller=True, multi_dc_domain=True)
    point = back_up(item, alice)
    account = _account(alpha)
    errors = _errors(lambda: restore.start_restore(point, vm_name="dc-r", cloud_service="dc-restored",
                                                   storage_account=account.name))
    assert "USN rollback" in errors["disks_only"][0]
    vms_before = VirtualMachine.objects.count()
    job = run_jobs(restore.start_restore(point, user=alice, storage_account=account.name, disks_only=True))[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert VirtualMachine.objects.count() == vms_before and not CloudService.objects.filter(name="dc-restored")
    restored = job.result["restored_disks"]
    assert sorted(restored) == ["data-0", "os"]
    source = {d.key: d for d in item.vm.disks.all()}
    for key, blob in restored.items():
        assert blob == f"restore-{job.pk}/{key}.vhd" and not blob.startswith("/")
        assert same_content(account.folder / blob, source[key].path)


def test_a_single_disk_can_be_restored_with_disks_only(backed_up, alpha, alice):
    _, point = backed_up
    account = _account(alpha)
    job = run_jobs(restore.start_restore(point, user=alice, storage_account=account.name, disks_only=True,
                                         disk_keys=["data-0"]))[0]
    assert job.status == JobStatus.COMPLETED and list(job.result["restored_disks"]) == ["data-0"]
    errors = _errors(lambda: restore.start_restore(point, storage_account=account.name, disks_only=True,
                                                   disk_keys=["data-7"]))
    assert "no disk data-7" in errors["disk_keys"][0]


def test_a_failed_restore_removes_the_machine_and_disks_it_made(backed_up, alpha, alice):
    _, point = backed_up
    account = _account(alpha)
    job = restore.start_restore(point, user=alice, vm_name="gone-r", cloud_service="gone-cs",
                                storage_account=account.name)
    shutil.rmtree(point.vault.store_path / "chunks")  # the backup data vanished under the job
    (point.vault.store_path / "chunks").mkdir()
    for n in range(256):
        (point.vault.store_path / "chunks" / f"{n:02x}").mkdir()
    job = run_jobs(job)[0]
    assert job.status == JobStatus.FAILED and job.error_code == "RecoveryPointUnreadable"
    assert not VirtualMachine.objects.filter(name="gone-r").exists()
    assert not CloudService.objects.filter(name="gone-cs").exists()
    assert not VirtualDisk.objects.filter(storage_account=account).exists()
    assert not list(account.folder.glob("*.vhd"))


def test_the_job_validates_again_when_the_name_was_taken_meanwhile(backed_up, alpha, alice):
    item, point = backed_up
    account = _account(alpha)
    job = restore.start_restore(point, user=alice, vm_name="late", cloud_service=item.vm.cloud_service.name,
                                storage_account=account.name)
    make_vm(alpha, name="late")  # its own cloud service: not a clash
    VirtualMachine.objects.filter(name="late").update(cloud_service=item.vm.cloud_service)
    job = run_jobs(job)[0]
    assert job.status == JobStatus.FAILED and restore.REPLACE_REFUSED in job.error_message
