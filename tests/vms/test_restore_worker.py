"""The whole life cycle of a protected machine on a real worker with real disk files: register, protect,
back up twice with guest writes between, restore the older point, stop protection keeping the data and
restore again, delete the data (the store shrinks after GC), unregister, delete the vault."""

import os
import random
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from backup import engine
from backup.fabric.disks import Disk
from backup.fabric.guest import run_guest_writes
from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem, RecoveryPoint, RegisteredItem, StorageAccount, VirtualMachine
from backup.vms.services import backup as backups
from backup.vms.services import manage, protection, registration, restore
from tests.factories import make_policy, make_vault, make_vm
from tests.vms.test_backup_worker import _final

from .restore_helpers import (
    clean_fabric,  # noqa: F401  (autouse)
    same_content,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _done(job: Job) -> Job:
    job = _final(job, timeout=60)
    assert job.status == JobStatus.COMPLETED, f"{job.operation}: {job.error_message}"
    return job


def _source_disks(vm: VirtualMachine) -> dict[str, Disk]:
    return {d.key: Disk.open(d.path) for d in vm.disks.exclude(kind="resource")}


def _assert_restored(vm: VirtualMachine, expected: dict[str, os.PathLike]) -> None:
    disks = {d.key: d for d in vm.disks.all()}
    assert sorted(disks) == sorted([*expected, "resource"])
    for key, path in expected.items():
        assert same_content(disks[key].path, path), f"{vm.name} {key} differs"


def test_the_life_cycle_of_a_protected_machine(celery_worker, alice, alpha, tmp_path):
    vault = make_vault(alpha)
    vm = make_vm(alpha, name="web01", os_mib=2, data_mib=1, seed=7)
    account = StorageAccount.objects.create(subscription=alpha, name="restoretarget", region="West US")

    # Register and protect, through the real flows.
    _done(registration.start_registration(vault, [vm.pk], alice)[0])
    _done(protection.start_protection(vault, [vm.pk], make_policy(vault), alice)[0])
    item = ProtectedItem.objects.get(vm=vm)

    # First backup, then keep a copy of what the disks held at that time.
    first = _done(backups.back_up_now(item, alice))
    then = {key: disk.clone_to(tmp_path / f"then-{key}.vhd").path for key, disk in _source_disks(vm).items()}
    # Yesterday's backup, as far as retention is concerned (its daily rule keeps one point per day).
    older = RecoveryPoint.objects.get(point_id=f"job-{first.pk}")
    RecoveryPoint.objects.filter(pk=older.pk).update(created_at=older.created_at - timedelta(days=1))
    _done(Job.objects.get(operation=Operation.PRUNE))
    run_guest_writes(_source_disks(vm), random.Random(3), files=4, vm_dir=vm.folder, max_file=256 * 1024)
    _done(backups.back_up_now(item, alice))
    _done(Job.objects.filter(operation=Operation.PRUNE).first())
    assert item.recovery_points.count() == 2
    assert not all(same_content(path, _source_disks(vm)[key].path) for key, path in then.items())

    # Restore the older point to a new machine: its disks are what the source held then.
    job = _done(restore.start_restore(older, user=alice, vm_name="web01-old", cloud_service="web01-old-cs",
                                      storage_account=account.name))
    assert [s.name for s in job.subtasks.all()] == ["Prepare target", "Restore disks", "Create virtual machine"]
    restored = VirtualMachine.objects.get(name="web01-old")
    assert restored.power_state == "Running" and not restored.backup_extension_installed
    _assert_restored(restored, then)

    # Stop protection, keeping the data: the newest point still restores.
    _done(manage.stop_protection(item, user=alice, reason="Other"))
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.STOPPED and item.recovery_points.count() == 2
    now = {key: d.path for key, d in _source_disks(vm).items()}
    _done(restore.start_restore(restore.points_of(item).first(), user=alice, vm_name="web01-new",
                                cloud_service="web01-old-cs", create_cloud_service=False,
                                storage_account=account.name))
    _assert_restored(VirtualMachine.objects.get(name="web01-new"), now)

    # Delete the data: rows and manifests go, and the GC job started after it frees the chunks. The chunks are
    # made older than GC's grace period (an hour) first, as if the backups had run yesterday.
    store = engine.Store.open(vault.store_path)
    before = store.stats().stored_bytes
    past = time.time() - 3 * 3600
    for entry in store.iter_chunk_files():
        os.utime(entry.path, (past, past))
    delete = _done(manage.stop_protection(item, user=alice, delete_data=True))
    assert delete.operation == Operation.DELETE_BACKUP_DATA
    # Soft delete (the vault's default) keeps everything until the purge date; then beat's purge deletes it.
    item.refresh_from_db()
    assert item.is_soft_deleted and store.list_manifests()
    assert not Job.objects.filter(operation=Operation.GARBAGE_COLLECTION, vault_id=vault.pk).exists()
    ProtectedItem.objects.filter(pk=item.pk).update(purge_at=timezone.now() - timedelta(seconds=1))
    [purge] = manage.purge_due_items()
    _done(purge)
    assert not ProtectedItem.objects.filter(pk=item.pk).exists()
    assert not RecoveryPoint.objects.filter(vault=vault).exists() and not store.list_manifests()
    gc_job = _done(Job.objects.get(operation=Operation.GARBAGE_COLLECTION, vault_id=vault.pk))
    assert gc_job.result["bytes_freed"] > 0
    assert store.stats().stored_bytes < before

    # Unregister, then the empty vault can be deleted.
    _done(manage.start_unregister(RegisteredItem.objects.get(vault=vault, vm=vm), user=alice))
    vm.refresh_from_db()
    assert not vm.backup_extension_installed
    assert manage.vault_deletion_problem(vault) is None
    _done(manage.start_delete_vault(vault, user=alice))
    assert not Vault.objects.filter(pk=vault.pk).exists() and not vault.store_path.exists()


def test_a_cancelled_restore_leaves_nothing_behind(celery_worker, alice, alpha):
    from backup.jobs import services as jobs
    from backup.vms.models import CloudService
    from tests.factories import protect

    vault = make_vault(alpha)
    item = protect(vault, make_vm(alpha, os_mib=1, data_mib=0.5))
    point = _done(backups.back_up_now(item, alice))
    point = RecoveryPoint.objects.get(point_id=f"job-{point.pk}")
    account = StorageAccount.objects.create(subscription=alpha, name="cancelsa", region="West US")
    job = restore.start_restore(point, user=alice, vm_name="never", cloud_service="never-cs",
                                storage_account=account.name)
    jobs.request_cancel(job)
    job = _final(job)
    assert job.status == JobStatus.CANCELLED
    assert not VirtualMachine.objects.filter(name="never").exists()
    assert not CloudService.objects.filter(name="never-cs").exists()
