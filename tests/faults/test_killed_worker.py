"""A worker killed with SIGKILL in the middle of a restore or a garbage collection (the backup case is in
tests/vms/test_backup_worker.py): the job ends Failed within a bounded time, the store verifies clean, and the
next backup, garbage collection and restore succeed."""

import os
import random
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from backup import engine
from backup.jobs import errors, runner
from backup.jobs.models import Job, JobStatus, Operation, SubTask
from backup.vms.models import CloudService, ProtectedItem, RecoveryPoint, VirtualDisk, VirtualMachine
from backup.vms.services import backup as backups
from backup.vms.services import gc
from backup.vms.services import restore as restores
from tests.factories import make_protected_item, make_vault
from tests.faults.helpers import _kill_tree, final, own_queue
from tests.worker import start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
SLOW = Path(__file__).parent / "slow"


@pytest.fixture
def env(monkeypatch, settings):
    settings.JOB_HEARTBEAT_TIMEOUT_S = 3
    queue = f"{django_settings.CELERY_TASK_DEFAULT_QUEUE}-faults"
    own_queue(monkeypatch, queue)
    return {"CELERY_TASK_DEFAULT_QUEUE": queue, "JOB_HEARTBEAT_TIMEOUT_S": "3",
            "PYTHONPATH": os.pathsep.join([str(SLOW), str(django_settings.BASE_DIR)])}


def _worker(name, env, **slow):
    return start_worker(name, Path(django_settings.VAR_DIR) / "logs", extra_env=env | slow)


def _kill(worker) -> None:
    _kill_tree(worker.pid)
    worker.wait()
    worker.log_file.close()


def _reaped(job: Job) -> Job:
    started = time.monotonic()
    wait_for(lambda: runner.reap_lost_jobs() or Job.objects.get(pk=job.pk).status != JobStatus.IN_PROGRESS,
             timeout=20, interval=0.5, message="the reaper to fail the lost job")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_message == errors.WORKER_LOST
    assert time.monotonic() - started < 20
    return job


def _back_up(item, user) -> RecoveryPoint:
    job = final(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), user))
    assert job.status == JobStatus.COMPLETED, job.error_message
    return RecoveryPoint.objects.get(point_id=f"job-{job.pk}")


def _restore(point, user, name: str) -> Job:
    account = point.protected_item.vm.disks.get(kind="os").storage_account
    return restores.start_restore(point, user=user, vm_name=name, cloud_service=f"cs-{name}-{random.randrange(10**6)}",
                                  create_cloud_service=True, storage_account=account.name)


def test_a_restore_whose_worker_is_killed_ends_failed_and_the_next_restore_succeeds(alice, alpha, env):
    item = make_protected_item(alpha, os_mib=9, data_mib=5)
    worker = _worker("restore-fast", env)
    try:
        point = _back_up(item, alice)
    finally:
        stop_worker(worker)
    doomed = _worker("restore-doomed", env, FAULT_SLOW_CHUNK_READ_S="1.5")
    job = _restore(point, alice, "doomed1")
    try:
        wait_for(lambda: SubTask.objects.filter(job=job, name=restores.STEP_DISKS, status="in_progress").exists(),
                 timeout=60, message="the restore to start writing disks")
        time.sleep(0.5)
    finally:
        _kill(doomed)
    assert Job.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS  # killed mid-restore
    half_made_disks = [disk.path for disk in VirtualDisk.objects.filter(vm__name="doomed1")]
    _reaped(job)
    store = engine.Store.open(item.vault.store_path)
    assert engine.verify(store).ok
    # The reaper removes the half-restored machine, its disks and its new cloud service, so the name is free again.
    assert not VirtualMachine.objects.filter(name="doomed1").exists()
    assert not CloudService.objects.filter(name=job.params["cloud_service"]).exists()
    assert half_made_disks and not any(path.exists() for path in half_made_disks)

    worker = _worker("restore-next", env)
    try:
        again = final(_restore(point, alice, "again1"))
        assert again.status == JobStatus.COMPLETED, again.error_message
        assert _back_up(item, alice)
    finally:
        stop_worker(worker)
    assert engine.verify(store).ok and store.list_manifests()


def _age_chunks(store, hours: int = 2) -> None:
    old = (timezone.now() - timedelta(hours=hours)).timestamp()
    for path in (store.root / "chunks").rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))


def _hidden_chunks(store) -> list[Path]:
    return list((store.root / "chunks").rglob(".gc-*"))


def test_a_garbage_collection_whose_worker_is_killed_ends_failed_and_the_next_one_frees_the_rest(alice, alpha, env):
    vault = make_vault(alpha)
    kept = make_protected_item(alpha, vault, os_mib=3, data_mib=2, seed=1)
    dropped = make_protected_item(alpha, vault, os_mib=14, data_mib=6, seed=2)
    worker = _worker("gc-fast", env)
    try:
        _back_up(kept, alice)
        _back_up(dropped, alice)
    finally:
        stop_worker(worker)
    store = engine.Store.open(vault.store_path)
    # Delete the second machine's backup data: its chunks are garbage, old enough for GC's grace period.
    engine.delete_item(store, dropped.store_item_id)
    RecoveryPoint.objects.filter(protected_item=dropped).delete()
    _age_chunks(store)
    before = store.stats()

    doomed = _worker("gc-doomed", env, FAULT_SLOW_GC_UNLINK_S="2")
    job = gc.start_gc(vault, user=alice)
    try:
        wait_for(lambda: _hidden_chunks(store), timeout=60, message="GC to start removing chunks")
    finally:
        _kill(doomed)
    assert Job.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS  # killed mid-sweep
    _reaped(job)
    assert engine.verify(store).ok  # every chunk a recovery point names is still there

    worker = _worker("gc-next", env)
    try:
        following = final(gc.start_gc(vault, user=alice))
        assert following.status == JobStatus.COMPLETED, following.error_message
        assert following.result["chunks_removed"] >= 1
        assert _hidden_chunks(store) == []
        assert store.stats().stored_bytes < before.stored_bytes
        assert engine.verify(store).ok
        newest = _back_up(kept, alice)  # (its Prune job then expires kept_point: one point a day is kept)
        restored = final(_restore(newest, alice, "aftergc1"))
        assert restored.status == JobStatus.COMPLETED, restored.error_message
    finally:
        stop_worker(worker)
    assert not Job.objects.filter(status=JobStatus.IN_PROGRESS).exclude(operation=Operation.PRUNE).exists()


def _no_snapshots_left(item) -> bool:
    from backup.fabric.snapshots import list_snapshot_ids

    return all(not list_snapshot_ids(d.path) for d in item.vm.disks.all())


def _reaped_completed(job: Job) -> Job:
    wait_for(lambda: runner.reap_lost_jobs() or Job.objects.get(pk=job.pk).status != JobStatus.IN_PROGRESS,
             timeout=20, interval=0.5, message="the reaper to end the lost job")
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("killed_in", ["after the manifest was committed", "Delete snapshot"])
def test_a_backup_killed_once_its_point_exists_ends_completed_with_the_point_shown(alice, alpha, env, killed_in):
    item = make_protected_item(alpha, os_mib=3, data_mib=2, seed=51)
    slow = ({"FAULT_SLOW_AFTER_COMMIT_S": "30"} if killed_in.startswith("after")
            else {"FAULT_SLOW_SNAPSHOT_DELETE_S": "30"})
    doomed = _worker("point-doomed", env, **slow)
    job = backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), alice)
    store = engine.Store.open(item.vault.store_path)
    point_id = f"job-{job.pk}"
    try:
        if killed_in.startswith("after"):
            wait_for(lambda: store.has_manifest(point_id), timeout=60, message="the manifest to be committed")
        else:
            wait_for(lambda: SubTask.objects.filter(job=job, name=backups.STEP_DELETE_SNAPSHOT,
                                                    status="in_progress").exists(),
                     timeout=60, message="the snapshot deletion to start")
        time.sleep(0.3)
    finally:
        _kill(doomed)
    assert Job.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS
    assert RecoveryPoint.objects.filter(point_id=point_id).exists() == (killed_in == "Delete snapshot")

    job = _reaped_completed(job)
    # The store holds a complete point: the portal shows it, retention and GC count it, the job says what happened.
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.error_message == "" and job.result["warning"] == backups.STOPPED_AFTER_POINT
    assert job.result["recovery_point"] == point_id
    point = RecoveryPoint.objects.get(point_id=point_id)
    assert point.protected_item_id == item.pk and point.job_id == job.pk
    assert [m.point_id for m in store.list_manifests()] == [point_id]
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.PROTECTED
    assert not _no_snapshots_left(item)  # the killed job's snapshot is still there...

    worker = _worker("point-next", env)
    try:
        following = final(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), alice))
    finally:
        stop_worker(worker)
    assert following.status == JobStatus.COMPLETED, following.error_message
    assert _no_snapshots_left(item)  # ... until the next backup removes it
    assert engine.verify(store).ok
