"""Vaults whose regions the operator mapped to S3 buckets, on a real worker against a real S3 server (moto_server):
Quick Create makes the stores in the buckets, and backup, incremental, restore, verify (with quarantine), soft
delete, purge, GC and vault deletion all run on them; with the primary bucket's objects gone, a geo-redundant
vault restores from its secondary bucket."""

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from backup.fabric.disks import Disk
from backup.jobs.models import ACTIVE_STATUSES, Job, JobStatus, Operation
from backup.vaults import services as vaults
from backup.vaults.models import StorageLocation, Vault
from backup.vms.models import ProtectedItem, RecoveryPoint, RegisteredItem, StorageAccount, VirtualMachine
from backup.vms.services import backup as backups
from backup.vms.services import manage, operations, restore
from backup.vms.services.stores import open_vault_store
from tests.factories import make_vm, protect
from tests.faults.helpers import own_queue
from tests.vms.test_backup_worker import _final
from tests.worker import start_worker, stop_worker, wait_for

from .restore_helpers import (
    clean_fabric,  # noqa: F401  (autouse)
    same_content,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1 << 20


@pytest.fixture
def bucket_worker(monkeypatch, settings):
    """A worker of its own, whose GC frees unreferenced chunks at once (an S3 object's age cannot be faked)."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-bucket"
    own_queue(monkeypatch, queue)
    env = {"CELERY_TASK_DEFAULT_QUEUE": queue, "GC_GRACE_S": "0", "PYTHONPATH": str(settings.BASE_DIR)}
    worker = start_worker("bucket", Path(settings.VAR_DIR) / "logs", extra_env=env)
    yield worker
    stop_worker(worker)


def bucket_location(s3_server, region: str) -> StorageLocation:
    return StorageLocation.objects.create(
        name=f"bucket {region}", region=region, kind="bucket", bucket=s3_server.new_bucket(), prefix="portal",
        endpoint_url=s3_server.endpoint_url, path_style=True, credentials="stored", access_key_id="test",
        secret_access_key="test-secret",
    )  # fmt: skip


def keys(s3_server, location: StorageLocation, vault: Vault, sub: str = "") -> list[str]:
    """The object keys of the vault's store in `location` (below its prefix)."""
    prefix = f"{location.prefix}/{vault.store_name}/"
    pages = s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix + sub)
    return [o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", [])]


def chunk_keys(s3_server, location: StorageLocation, vault: Vault) -> list[str]:
    return [k for k in keys(s3_server, location, vault, "chunks/") if not k.endswith(".bad")]


def done(job: Job) -> Job:
    job = _final(job, timeout=90)
    assert job.status == JobStatus.COMPLETED, f"{job.operation}: {job.error_message}"
    return job


def settled(vault: Vault) -> None:
    """Wait for the jobs a backup starts after itself (Prune, Replicate, GC) to end."""

    def idle():
        return not Job.objects.filter(vault_id=vault.pk, status__in=ACTIVE_STATUSES).exists()

    for _ in range(2):  # the jobs a finished job starts are recorded just after it ends
        wait_for(idle, timeout=90, message="the vault's jobs to end")
        time.sleep(1)
    wait_for(idle, timeout=90, message="the vault's jobs to end")


def quick_create(alice, alpha, name: str) -> Vault:
    vault = vaults.create_vault(user=alice, subscription=alpha, name=name, region="West US")

    def active():
        vault.refresh_from_db()
        return vault.status == Vault.Status.ACTIVE

    wait_for(active, timeout=60, message="the worker to activate the vault")
    return vault


def restored_disks(user, point: RecoveryPoint, vm_name: str, from_secondary: bool = False) -> dict[str, Path]:
    region = restore.restore_region(point.vault, from_secondary)
    account = StorageAccount.objects.create(
        subscription=point.vault.subscription, name=vm_name.replace("-", "") + "sa", region=region
    )
    job = restore.start_restore(
        point, user=user, vm_name=vm_name, cloud_service=f"{vm_name}-cs", storage_account=account.name,
        from_secondary=from_secondary,
    )  # fmt: skip
    done(job)
    return {d.key: d.path for d in VirtualMachine.objects.get(name=vm_name).disks.exclude(kind="resource")}


def test_a_vault_on_a_bucket_lives_its_whole_life_there(bucket_worker, s3_server, alice, alpha, tmp_path):
    west, east = bucket_location(s3_server, "West US"), bucket_location(s3_server, "East US")
    vault = quick_create(alice, alpha, "BucketPayroll")
    assert vault.store_location == f"s3://{west.bucket}/portal/vault-{vault.pk}"
    assert "vault-store.json" in keys(s3_server, west, vault) and "vault-store.json" in keys(s3_server, east, vault)

    vm = make_vm(alpha, name="s3vm01", os_mib=10, data_mib=5, seed=21)
    item = protect(vault, vm)
    first = done(backups.back_up_now(item, alice))
    settled(vault)
    disks = vm.disks.exclude(kind="resource")
    then = {d.key: Disk.open(d.path).clone_to(tmp_path / f"then-{d.key}.vhd").path for d in disks}
    Disk.open(vm.disks.get(kind="os").path).write(3 * MiB, os.urandom(64 * 1024))  # one chunk changes
    second = done(backups.back_up_now(item, alice))
    settled(vault)
    assert 0 < second.result["backup_size_bytes"] < first.result["backup_size_bytes"] / 2  # an incremental
    older = RecoveryPoint.objects.get(point_id=f"job-{first.pk}")
    newer = RecoveryPoint.objects.get(point_id=f"job-{second.pk}")
    assert older.replicated_at and newer.replicated_at

    for key, path in restored_disks(alice, older, "s3vm01-old").items():
        assert same_content(path, then[key]), key

    # Verify reads every chunk from the bucket; a rotten chunk object is quarantined and its points marked.
    assert done(operations.start_verify(vault, user=alice)).result["points_checked"] == 2
    rotten = next(h for h in point_chunks(vault, newer) if h not in point_chunks(vault, older))
    name = f"portal/vault-{vault.pk}/chunks/{rotten[:2]}/{rotten}"
    s3_server.client().put_object(Bucket=west.bucket, Key=name, Body=b"\x01" + b"rot" * 100)
    failed = _final(operations.start_verify(vault, user=alice), timeout=90)
    assert failed.status == JobStatus.FAILED and failed.error_code == "BackupDataDamaged"
    quarantined = [k for k in keys(s3_server, west, vault, "chunks/") if k.endswith(".bad")]
    assert quarantined == [f"chunks/{rotten[:2]}/{rotten}.0.bad"]
    newer.refresh_from_db()
    assert newer.damaged_at is not None and newer.verify_state == RecoveryPoint.VerifyState.FAILED

    # Soft delete keeps everything; the purge deletes the points and the GC after it every chunk object.
    done(manage.stop_protection(item, user=alice, delete_data=True))
    item.refresh_from_db()
    assert item.is_soft_deleted and keys(s3_server, west, vault, "manifests/")
    ProtectedItem.objects.filter(pk=item.pk).update(purge_at=timezone.now() - timedelta(seconds=1))
    [purge] = manage.purge_due_items()
    done(purge)
    settled(vault)
    assert not keys(s3_server, west, vault, "manifests/") and not RecoveryPoint.objects.filter(vault=vault).exists()
    gc = Job.objects.filter(operation=Operation.GARBAGE_COLLECTION, vault_id=vault.pk).latest("pk")
    assert done(gc).result["bytes_freed"] > 0
    assert chunk_keys(s3_server, west, vault) == []

    # Deleting the vault removes its objects from both buckets.
    done(manage.start_unregister(RegisteredItem.objects.get(vault=vault, vm=vm), user=alice))
    done(manage.start_delete_vault(vault, user=alice))
    assert not Vault.objects.filter(pk=vault.pk).exists()
    assert keys(s3_server, west, vault) == [] and keys(s3_server, east, vault) == []
    # The stored secret appears in no job text and no worker log line.
    texts = Job.objects.values_list("error_message", "recommended_action", "params", "result")
    assert "test-secret" not in repr(list(texts)) and "test-secret" not in Path(bucket_worker.log_path).read_text()


def point_chunks(vault: Vault, point: RecoveryPoint) -> set[str]:
    return open_vault_store(vault).load_manifest(point.point_id).chunk_hashes()


def test_with_the_primary_bucket_emptied_a_point_restores_from_the_secondary_bucket(
    bucket_worker, s3_server, alice, alpha
):
    west, east = bucket_location(s3_server, "West US"), bucket_location(s3_server, "East US")
    vault = quick_create(alice, alpha, "BucketGeo")
    assert vault.secondary_store_location == f"s3://{east.bucket}/portal/vault-{vault.pk}"
    vm = make_vm(alpha, name="s3geo01", os_mib=6, data_mib=3, seed=22)
    item = protect(vault, vm)
    backup = done(backups.back_up_now(item, alice))
    replicate = done(Job.objects.get(operation=Operation.REPLICATE, vault_id=vault.pk))
    assert replicate.result["points_copied"] == 1 and replicate.result["bytes_copied"] > 0
    settled(vault)
    point = RecoveryPoint.objects.get(point_id=f"job-{backup.pk}")
    assert point.replicated_at is not None and chunk_keys(s3_server, east, vault)

    lost = keys(s3_server, west, vault)  # the primary region's bucket loses the store
    s3_server.client().delete_objects(
        Bucket=west.bucket, Delete={"Objects": [{"Key": f"portal/vault-{vault.pk}/{k}"} for k in lost]}
    )
    assert keys(s3_server, west, vault) == [] and not restore.primary_store_opens(vault)
    source = {d.key: d.path for d in vm.disks.exclude(kind="resource")}
    restored = restored_disks(alice, point, "s3geo01-dr", from_secondary=True)
    assert VirtualMachine.objects.get(name="s3geo01-dr").cloud_service.region == "East US"
    for key, path in restored.items():
        assert same_content(path, source[key]), key
