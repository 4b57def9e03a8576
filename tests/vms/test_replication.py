"""Geo-redundancy: each point of a geo-redundant vault is copied to its secondary store in the paired region by a
Replicate job; deletions reach the copy only when due; the dashboard's state and lag; restore from the copy."""

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from backup import engine
from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults import copies
from backup.vaults.models import Vault
from backup.vms.models import RecoveryPoint, SecondaryDeletion, StorageAccount, VirtualMachine
from backup.vms.services import replication, restore, retention
from tests.factories import make_protected_item, make_vault

from .helpers import run_jobs
from .restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
    same_content,
)


def geo_vault(subscription) -> Vault:
    vault = make_vault(subscription)  # West US, paired with East US
    shutil.rmtree(vault.secondary_store_location, ignore_errors=True)  # ids restart after a rolled-back test
    copies.ensure_secondary(vault)
    return vault


def _replicate_job(vault) -> Job:
    return Job.objects.get(vault_id=vault.pk, operation=Operation.REPLICATE, status=JobStatus.IN_PROGRESS)


@pytest.fixture
def geo_point(alpha, alice):
    item = make_protected_item(alpha, vault=geo_vault(alpha), os_mib=1, data_mib=0.5)
    return item, back_up(item, alice)


def test_a_geo_redundant_vault_gets_its_secondary_store_in_the_paired_region(alpha):
    vault = geo_vault(alpha)
    assert (vault.secondary_region, vault.has_secondary) == ("East US", True)
    assert Path(vault.secondary_store_location) != vault.store_path
    assert engine.open_store(vault.secondary_store_location).list_manifests() == []


def test_a_backup_starts_a_replicate_job_that_copies_the_point(geo_point):
    item, point = geo_point
    vault = item.vault
    job = _replicate_job(vault)
    assert job.lock_key == f"replicate:vault:{vault.pk}" and job.is_maintenance
    assert replication.replication_status(vault).state == "Replicating"  # queued
    job = run_jobs(job)[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.result["points_copied"] == 1 and job.result["bytes_copied"] > 0
    point.refresh_from_db()
    assert point.replicated_at is not None
    secondary = copies.open_secondary(vault)
    assert secondary.load_manifest(point.point_id) == engine.open_store(vault.store_location).load_manifest(
        point.point_id
    )
    assert engine.verify(secondary).ok
    status = replication.replication_status(vault)
    assert (status.state, status.lag_seconds, status.points_behind, status.label) == ("In sync", 0.0, 0, "In sync")


def test_an_incremental_copies_only_its_new_chunks(geo_point, alice):
    item, _ = geo_point
    run_jobs(_replicate_job(item.vault))
    first_bytes = copies.open_secondary(item.vault).stats().stored_bytes
    back_up(item, alice)  # nothing changed on the disks
    job = run_jobs(_replicate_job(item.vault))[0]
    assert (job.result["points_copied"], job.result["chunks_copied"]) == (1, 0)
    assert copies.open_secondary(item.vault).stats().stored_bytes == first_bytes


def test_a_second_replicate_is_not_started_while_one_runs(geo_point):
    item, _ = geo_point
    assert replication.start_replication(item.vault) is None
    assert Job.objects.filter(operation=Operation.REPLICATE).count() == 1


def test_a_locally_redundant_vault_has_one_copy_and_no_replicate_job(alpha, alice):
    item = make_protected_item(alpha, os_mib=1, data_mib=0.5)
    Vault.objects.filter(pk=item.vault_id).update(redundancy=Vault.Redundancy.LOCAL)
    back_up(item, alice)
    assert not item.vault.has_secondary
    assert not Job.objects.filter(operation=Operation.REPLICATE).exists()
    assert replication.replication_status(item.vault) is None


def test_a_lost_secondary_fails_the_job_and_the_state_says_why(geo_point):
    item, point = geo_point
    shutil.rmtree(item.vault.secondary_store_location)
    job = run_jobs(_replicate_job(item.vault))[0]
    assert job.status == JobStatus.FAILED and job.error_code == "SecondaryStoreUnavailable"
    assert "East US" in job.error_message
    status = replication.replication_status(item.vault)
    assert status.state == "Failed" and status.reason == job.error_message
    assert status.label.startswith("Failed: ")
    assert status.behind_since == point.created_at and status.lag_seconds > 0


def test_beat_catches_up_only_the_vaults_behind(geo_point, alpha):
    item, _ = geo_point
    run_jobs(_replicate_job(item.vault))
    RecoveryPoint.objects.filter(vault=item.vault).update(replicated_at=None)  # as if the job had been lost
    in_sync = geo_vault(alpha)
    [job] = replication.catch_up_all_vaults()
    assert job.vault_id == item.vault_id != in_sync.pk
    assert replication.catch_up_all_vaults() == []  # it is running
    run_jobs(job)
    assert not replication.behind(item.vault).exists()


def test_a_point_pruned_in_the_primary_stays_in_the_secondary_until_due(geo_point, alice, settings):
    item, point = geo_point
    run_jobs(_replicate_job(item.vault))
    later = back_up(item, alice)
    run_jobs(_replicate_job(item.vault))
    RecoveryPoint.objects.filter(pk=point.pk).update(created_at=timezone.now() - timedelta(days=400))
    assert retention.prune_item(item.pk) == [point.point_id]
    secondary = copies.open_secondary(item.vault)
    assert not engine.open_store(item.vault.store_location).has_manifest(point.point_id)
    assert secondary.has_manifest(point.point_id)
    [deletion] = SecondaryDeletion.objects.filter(vault=item.vault)
    assert deletion.due_at - deletion.requested_at == timedelta(seconds=settings.REPLICATION_DELETE_DELAY_S)
    assert replication.apply_due_deletions(item.vault) == 0 and secondary.has_manifest(point.point_id)
    assert replication.apply_due_deletions(item.vault, now=deletion.due_at) == 1
    assert not secondary.has_manifest(point.point_id) and secondary.has_manifest(later.point_id)
    deletion.refresh_from_db()
    assert deletion.done_at is not None


def test_the_replicate_job_applies_due_deletions(geo_point, settings):
    item, point = geo_point
    run_jobs(_replicate_job(item.vault))
    settings.REPLICATION_DELETE_DELAY_S = 0
    replication.defer_secondary_deletion(item.vault, [point.point_id])
    [job] = replication.catch_up_all_vaults()
    job = run_jobs(job)[0]
    assert job.result["points_deleted"] == 1
    assert not copies.open_secondary(item.vault).has_manifest(point.point_id)


def test_maintenance_hides_replicate_jobs_from_the_jobs_list(geo_point):
    item, _ = geo_point
    assert not Job.objects.for_vault_page(item.vault_id).filter(operation=Operation.REPLICATE).exists()
    assert Job.objects.for_vault_page(item.vault_id, maintenance=True).filter(operation=Operation.REPLICATE).exists()


# -- Restore from the secondary --------------------------------------------------------------------------------
def _east_account(alpha, name="eastsa"):
    account = StorageAccount.objects.create(subscription=alpha, name=name, region="East US")
    shutil.rmtree(account.folder, ignore_errors=True)
    return account


def _errors(call) -> dict:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.message_dict


def test_a_point_not_yet_copied_cannot_be_restored_from_the_secondary(geo_point, alpha):
    _, point = geo_point
    errors = _errors(
        lambda: restore.validate_restore(
            point, disks_only=True, storage_account=_east_account(alpha).name, from_secondary=True
        )
    )
    assert errors == {"restore_from": [restore.NOT_REPLICATED.format(region="East US")]}


def test_a_locally_redundant_vault_cannot_restore_from_a_secondary(alpha, alice):
    item = make_protected_item(alpha, os_mib=1, data_mib=0.5)
    point = back_up(item, alice)
    errors = _errors(lambda: restore.validate_restore(point, disks_only=True, storage_account="x", from_secondary=True))
    assert list(errors) == ["restore_from"] and "one copy" in errors["restore_from"][0]


def test_a_restore_from_the_secondary_goes_to_the_paired_region(geo_point, alpha):
    item, point = geo_point
    run_jobs(_replicate_job(item.vault))
    point.refresh_from_db()
    west = StorageAccount.objects.create(subscription=alpha, name="westsa", region="West US")
    errors = _errors(
        lambda: restore.validate_restore(point, disks_only=True, storage_account=west.name, from_secondary=True)
    )
    assert errors == {"storage_account": [restore.WRONG_PAIRED_REGION.format(region="East US")]}
    assert [a.name for a in restore.storage_accounts_for(item.vault, from_secondary=True)] == []
    east = _east_account(alpha)
    assert restore.validate_restore(point, disks_only=True, storage_account=east.name, from_secondary=True)
    errors = _errors(lambda: restore.validate_restore(point, disks_only=True, storage_account=east.name))
    assert errors == {"storage_account": [restore.WRONG_REGION]}  # the primary restores to its own region only


def test_the_choice_must_be_primary_or_secondary():
    assert restore.restore_from_secondary("primary") is False and restore.restore_from_secondary("secondary")
    with pytest.raises(ValidationError) as info:
        restore.restore_from_secondary("tertiary")
    assert info.value.message_dict == {"restore_from": ["Choose primary or secondary."]}


def test_with_the_primary_store_lost_the_secondary_restores_byte_identically(geo_point, alpha, alice):
    item, point = geo_point
    run_jobs(_replicate_job(item.vault))
    point.refresh_from_db()
    shutil.rmtree(item.vault.store_path)  # the primary region's storage is gone
    east = _east_account(alpha)
    job = restore.start_restore(
        point,
        user=alice,
        vm_name="web01-dr",
        cloud_service="web01-dr-cs",
        storage_account=east.name,
        from_secondary=True,
    )
    job = run_jobs(job)[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    vm = VirtualMachine.objects.get(name="web01-dr")
    assert vm.cloud_service.region == "East US"
    source = {d.key: d for d in item.vm.disks.all()}
    for disk in vm.disks.exclude(kind="resource"):
        assert same_content(disk.path, source[disk.key].path)
    # From the primary, the same restore now fails saying the storage cannot be opened.
    failed = run_jobs(
        restore.start_restore(point, user=alice, disks_only=True, storage_account=_account_west(alpha).name)
    )[0]
    assert failed.status == JobStatus.FAILED and failed.error_code == "VaultStoreUnavailable"


def _account_west(alpha):
    account = StorageAccount.objects.create(subscription=alpha, name="westrestore", region="West US")
    shutil.rmtree(account.folder, ignore_errors=True)
    return account


def test_gc_frees_the_secondarys_chunks_once_the_deletion_reached_it(geo_point, settings):
    from backup.vms.services import gc

    item, point = geo_point
    run_jobs(_replicate_job(item.vault))
    secondary = copies.open_secondary(item.vault)
    assert secondary.stats().chunk_count > 0
    RecoveryPoint.objects.filter(pk=point.pk).delete()
    engine.prune(engine.open_store(item.vault.store_location), [point.point_id])
    settings.REPLICATION_DELETE_DELAY_S = 0
    replication.defer_secondary_deletion(item.vault, [point.point_id])
    gc.collect_vault_garbage(item.vault_id, grace=timedelta(0))
    assert secondary.stats().chunk_count > 0  # not due yet on the secondary: its chunks stay
    replication.apply_due_deletions(item.vault)
    gc.collect_vault_garbage(item.vault_id, grace=timedelta(0))
    assert secondary.stats().chunk_count == 0


def test_deleting_the_vault_removes_both_copies(alpha, alice):
    from backup.vms.services import manage

    vault = geo_vault(alpha)
    secondary = Path(vault.secondary_store_location)
    job = run_jobs(manage.start_delete_vault(vault, user=alice))[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert not vault.store_path.exists() and not secondary.exists()


def test_a_damaged_point_waits_for_its_heal_and_does_not_hold_back_the_next(geo_point, alice, alpha):
    item, point = geo_point
    manifest = engine.open_store(item.vault.store_location).load_manifest(point.point_id)
    chunk = next(c for d in manifest.disks for c in d.chunks if c)
    path = engine.open_store(item.vault.store_location).chunk_path(chunk)
    path.write_bytes(path.read_bytes()[:-8] + b"corrupt!")
    other = make_protected_item(alpha, vault=item.vault, os_mib=0.5, data_mib=0.25, seed=5)
    later = back_up(other, alice)
    job = run_jobs(_replicate_job(item.vault))[0]
    assert job.status == JobStatus.FAILED and job.error_code == "ReplicationDamaged"
    assert "1 recovery point(s) could not be copied to East US" in job.error_message
    point.refresh_from_db()
    later.refresh_from_db()
    assert point.is_damaged and point.replicated_at is None and later.replicated_at is not None
    assert not copies.open_secondary(item.vault).has_manifest(point.point_id)
    [again] = replication.catch_up_all_vaults()  # the damaged point is still behind, and is skipped
    assert run_jobs(again)[0].status == JobStatus.COMPLETED
