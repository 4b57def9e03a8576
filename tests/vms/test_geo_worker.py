"""Cross-region restore on a real worker: a Quick Created (geo-redundant) vault gets its secondary store in the
paired region, a backup is replicated there by the Replicate job that follows it, the primary store is deleted,
and the point restores byte-identically from the secondary into the paired region."""

import shutil

import pytest

from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults import services as vaults
from backup.vaults.models import Vault
from backup.vms.models import RecoveryPoint, StorageAccount, VirtualMachine
from backup.vms.services import backup as backups
from backup.vms.services import replication, restore
from tests.factories import make_vm, protect
from tests.vms.test_backup_worker import _final
from tests.worker import wait_for

from .restore_helpers import (
    clean_fabric,  # noqa: F401  (autouse)
    same_content,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _done(job: Job) -> Job:
    job = _final(job, timeout=60)
    assert job.status == JobStatus.COMPLETED, f"{job.operation}: {job.error_message}"
    return job


def test_a_point_restores_from_the_paired_region_after_the_primary_store_is_lost(celery_worker, alice, alpha):
    vault = vaults.create_vault(user=alice, subscription=alpha, name="GeoPayroll", region="West US")

    def active():
        vault.refresh_from_db()
        return vault.status == Vault.Status.ACTIVE

    wait_for(active, timeout=60, message="the worker to activate the vault")
    assert vault.redundancy == Vault.Redundancy.GEO and vault.secondary_region == "East US" and vault.has_secondary

    item = protect(vault, make_vm(alpha, name="geo01", os_mib=2, data_mib=1, seed=11))
    backup = _done(backups.back_up_now(item, alice))
    point = RecoveryPoint.objects.get(point_id=f"job-{backup.pk}")
    replicate = _done(Job.objects.get(operation=Operation.REPLICATE, vault_id=vault.pk))
    assert replicate.result["points_copied"] == 1 and replicate.result["bytes_copied"] > 0
    point.refresh_from_db()
    assert point.replicated_at is not None
    print(f"replication_lag_s={(point.replicated_at - point.created_at).total_seconds():.2f}")
    assert replication.replication_status(vault).state == "In sync"

    shutil.rmtree(vault.store_path)  # the primary region's storage is lost
    assert not restore.primary_store_opens(vault)
    east = StorageAccount.objects.create(subscription=alpha, name="geoeast", region="East US")
    job = _done(
        restore.start_restore(
            point,
            user=alice,
            vm_name="geo01-dr",
            cloud_service="geo01-dr-cs",
            storage_account=east.name,
            from_secondary=True,
        )
    )
    restored = VirtualMachine.objects.get(name="geo01-dr")
    assert restored.cloud_service.region == "East US" and job.params["from_secondary"]
    source = {d.key: d for d in item.vm.disks.all()}
    for disk in restored.disks.exclude(kind="resource"):
        assert same_content(disk.path, source[disk.key].path), disk.key
