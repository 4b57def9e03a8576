"""Soft delete: deleted backup data stays (rows, manifests, chunks) until its purge date; UNDELETE brings every
point back; the purge deletes it for good; a vault holding soft-deleted data cannot be deleted."""

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from backup import engine
from backup.alerts.models import Alert
from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults import safeguards
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem, RecoveryPoint
from backup.vms.services import gc, manage, restore
from backup.vms.services.restore.targets import validate_restore
from tests.vms.helpers import run_jobs
from tests.vms.restore_helpers import same_content


def _soft_delete(item, user):
    job = run_jobs(manage.stop_protection(item, user=user, delete_data=True))[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    item.refresh_from_db()
    return job


def test_deleting_data_soft_deletes_it_for_the_vaults_period(backed_up, alice):
    item = backed_up
    assert item.vault.soft_delete == Vault.SoftDelete.ENABLED and item.vault.soft_delete_days == 14
    job = _soft_delete(item, alice)
    assert item.is_soft_deleted and item.status == ProtectedItem.Status.STOPPED
    assert abs(item.purge_at - (timezone.now() + timedelta(days=14))) < timedelta(minutes=1)
    assert item.status_label == f"Soft deleted - purge on {item.purge_at:%Y-%m-%d}"
    assert job.result["Backup data"].startswith("soft deleted, purge on")
    store = engine.Store.open(item.vault.store_path)
    assert item.recovery_points.count() == 1 and store.list_manifests(item.store_item_id)
    assert engine.held_until(store, item.store_item_id) == item.purge_at
    assert not Job.objects.filter(operation=Operation.GARBAGE_COLLECTION).exists()
    alert = Alert.objects.get(kind="protection_stopped_data_deleted")
    assert "soft deleted: restorable with UNDELETE until" in alert.message


def test_soft_deleted_points_survive_gc_and_restore_byte_identical_after_undelete(backed_up, alice, alpha):
    item = backed_up
    point = item.recovery_points.get()
    _soft_delete(item, alice)
    store = engine.Store.open(item.vault.store_path)
    past = time.time() - 3 * 3600  # older than GC's grace, as if backed up yesterday
    for entry in store.iter_chunk_files():
        os.utime(entry.path, (past, past))
    chunks = {e.name for e in store.iter_chunk_files()}
    gc_job = run_jobs(gc.start_gc(item.vault, user=alice))[0]
    assert gc_job.status == JobStatus.COMPLETED and gc_job.result["chunks_removed"] == 0
    assert {e.name for e in store.iter_chunk_files()} == chunks
    with pytest.raises(Exception, match="soft deleted - UNDELETE"):
        validate_restore(point, storage_account="x", disks_only=True)

    manage.undelete(item, user=alice)
    item.refresh_from_db()
    assert not item.is_soft_deleted and item.status_label == "Protection stopped"
    assert engine.held_until(store, item.store_item_id) is None
    from backup.vms.models import StorageAccount

    account = StorageAccount.objects.create(subscription=alpha, name="undeletesa", region="West US")
    job = run_jobs(restore.start_restore(point, user=alice, storage_account=account.name, disks_only=True))[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    source = {d.key: d for d in item.vm.disks.all()}
    for key, blob in job.result["restored_disks"].items():
        assert same_content(account.folder / blob, source[key].path)


def test_the_purge_deletes_for_good_after_the_period_only(backed_up, alice):
    item = backed_up
    _soft_delete(item, alice)
    assert manage.purge_due_items() == []
    ProtectedItem.objects.filter(pk=item.pk).update(purge_at=timezone.now() - timedelta(seconds=1))
    store = engine.Store.open(item.vault.store_path)
    [purge] = run_jobs(manage.purge_due_items())
    assert purge.status == JobStatus.COMPLETED and purge.operation == Operation.DELETE_BACKUP_DATA
    assert not ProtectedItem.objects.filter(pk=item.pk).exists() and not RecoveryPoint.objects.exists()
    assert not store.list_manifests() and engine.held_until(store, item.store_item_id) is None
    assert Job.objects.filter(operation=Operation.GARBAGE_COLLECTION).exists()
    assert Alert.objects.filter(kind="backup_data_deleted").count() == 0  # the soft delete already alerted


def test_a_purge_of_an_item_undeleted_meanwhile_keeps_it(backed_up, alice):
    item = backed_up
    _soft_delete(item, alice)
    ProtectedItem.objects.filter(pk=item.pk).update(purge_at=timezone.now() - timedelta(seconds=1))
    [purge] = manage.purge_due_items()
    item.refresh_from_db()
    manage.undelete(item, user=alice)
    run_jobs(purge)
    assert ProtectedItem.objects.filter(pk=item.pk).exists() and item.recovery_points.count() == 1


def test_soft_deleted_items_refuse_another_delete_resume_and_protect(backed_up, alice):
    item = backed_up
    _soft_delete(item, alice)
    with pytest.raises(Exception, match="already soft deleted - It is purged on"):
        manage.delete_backup_data(item, user=alice)
    with pytest.raises(Exception, match="soft deleted - UNDELETE it first"):
        manage.resume_protection(item, item.policy, user=alice)
    from backup.vms.services import protection

    assert not protection.protectable_items(item.vault).filter(pk=item.registered_item_id).exists()
    manage.undelete(item, user=alice)
    with pytest.raises(Exception, match="not soft deleted; there is nothing to undelete"):
        manage.undelete(item, user=alice)


def test_a_vault_holding_soft_deleted_data_cannot_be_deleted(backed_up, alice):
    item = backed_up
    _soft_delete(item, alice)
    problem = manage.vault_deletion_problem(item.vault)
    assert problem.startswith("The vault cannot be deleted while it holds soft-deleted backup data (1 soft-deleted "
                              f"item ({item.vm_name}), the last purged on {item.purge_at:%Y-%m-%d})")
    with pytest.raises(Exception, match="soft-deleted backup data"):
        manage.start_delete_vault(item.vault, user=alice)


def test_with_soft_delete_off_the_data_goes_at_once(backed_up, alice, django_capture_on_commit_callbacks):
    item = backed_up
    with django_capture_on_commit_callbacks(execute=True):
        safeguards.disable_soft_delete(item.vault, alice)
    run_jobs(manage.stop_protection(item, user=alice, delete_data=True))
    assert not ProtectedItem.objects.filter(pk=item.pk).exists()
    alert = Alert.objects.get(kind="soft_delete_disabled")
    assert alert.is_security and "turned off by alice" in alert.message


def test_the_period_is_14_to_180_days_and_always_on_is_final(item, alice):
    vault = item.vault
    for bad in (13, 181, "x", True, 0, "14.5"):
        with pytest.raises(Exception, match="from 14 to 180"):
            safeguards.configure_soft_delete(vault, days=bad, user=alice)
    vault = safeguards.configure_soft_delete(vault, state="always_on", days=30, user=alice)
    assert (vault.soft_delete, vault.soft_delete_days) == ("always_on", 30)
    for change in ({"state": "disabled"}, {"state": "enabled"}, {"days": 14}):
        with pytest.raises(Exception, match="always on - It was made irreversible"):
            safeguards.configure_soft_delete(vault, user=alice, **change)
    with pytest.raises(Exception, match="always on"):
        safeguards.disable_soft_delete(vault, alice)
    assert safeguards.configure_soft_delete(vault, days=60, user=alice).soft_delete_days == 60
