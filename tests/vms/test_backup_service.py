"""The Backup job handler run in-process (jobs.runner.run), with real disks and a real vault store."""

import fcntl
import os

import pytest

from backup import engine
from backup.fabric.guest import GUEST_LOCK_NAME
from backup.fabric.snapshots import list_snapshot_ids
from backup.jobs import runner
from backup.jobs import services as jobs
from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import ProtectedItem, RecoveryPoint, VirtualMachine
from backup.vms.services import backup as backups
from tests.factories import make_protected_item

STEPS = ["Take Snapshot", "Transfer data to Backup vault", "Create recovery point", "Delete snapshot"]


def _run(job: Job) -> Job:
    runner.run(job.pk)
    job.refresh_from_db()
    return job


def _steps(job: Job) -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in job.subtasks.all()]


def _no_snapshots_left(item: ProtectedItem) -> bool:
    return all(not list_snapshot_ids(d.path) for d in item.vm.disks.all())


@pytest.mark.django_db
def test_back_up_now_creates_a_recovery_point_with_every_sub_task(alice, alpha):
    item = make_protected_item(alpha)
    job = backups.back_up_now(item, alice)
    assert (job.operation, job.lock_key, job.item_type, job.vault_id) == (
        Operation.BACKUP, f"vm:{item.vm_id}", "vm", item.vault_id)
    assert job.cancellable

    job = _run(job)

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert _steps(job) == [(name, JobStatus.COMPLETED) for name in STEPS]
    point = RecoveryPoint.objects.get(protected_item=item)
    assert point.point_id == f"job-{job.pk}"
    assert point.consistency == "application"  # running Windows VM
    store = engine.Store.open(item.vault.store_path)
    manifest = store.load_manifest(point.point_id)
    assert sorted(d.key for d in manifest.disks) == ["data-0", "os"]  # never the resource disk
    assert point.protected_instance_bytes == manifest.logical_bytes > 0
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.PROTECTED
    assert item.last_backup_at is not None and item.protected_instance_bytes == point.protected_instance_bytes
    assert job.result["recovery_point"] == point.point_id
    assert _no_snapshots_left(item)
    # Retention pruning follows a successful backup as its own job.
    assert Job.objects.filter(operation=Operation.PRUNE, params__protected_item_id=item.pk).exists()


@pytest.mark.django_db
def test_second_backup_is_incremental_from_the_last_point(alice, alpha):
    item = make_protected_item(alpha)
    first = _run(backups.back_up_now(item, alice))
    Job.objects.filter(operation=Operation.PRUNE).delete()
    second = _run(backups.back_up_now(item, alice))
    assert second.status == JobStatus.COMPLETED
    points = {p.job_id: p for p in RecoveryPoint.objects.all()}
    assert points[second.pk].bytes_read == 0 < points[first.pk].bytes_read
    assert engine.verify(engine.Store.open(item.vault.store_path)).ok


@pytest.mark.django_db
def test_stopped_linux_vm_gets_a_crash_consistent_point(alice, alpha):
    item = make_protected_item(alpha, os_family="linux", os_version="Ubuntu 14.04", power_state="Stopped")
    job = _run(backups.back_up_now(item, alice))
    assert job.status == JobStatus.COMPLETED
    assert RecoveryPoint.objects.get(job_id=job.pk).consistency == "crash"


@pytest.mark.django_db
def test_backup_of_a_deleted_vm_fails_with_the_documented_message(alice, alpha):
    item = make_protected_item(alpha)
    VirtualMachine.objects.filter(pk=item.vm_id).delete()
    item.refresh_from_db()
    job = _run(backups.back_up_now(item, alice))
    assert job.status == JobStatus.FAILED
    assert job.error_message == "Could not perform the operation as VM no longer exists."
    assert job.recommended_action.startswith("Stop protection and keep the data")
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.BACKUP_FAILING
    assert item.get_status_display() == "Protected (backup failing)"


@pytest.mark.django_db
def test_backup_fails_with_the_agent_message_when_the_agent_is_missing(alice, alpha):
    item = make_protected_item(alpha, agent_installed=False)
    job = _run(backups.back_up_now(item, alice))
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("Virtual machine agent is not present on the virtual machine")
    assert job.subtasks.get().name == "Take Snapshot"


@pytest.mark.django_db
def test_snapshot_times_out_when_the_guest_never_quiesces(alice, alpha, settings):
    settings.SNAPSHOT_QUIESCE_TIMEOUT_S = 0.3
    item = make_protected_item(alpha)
    item.vm.folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(item.vm.folder / GUEST_LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a guest write that never ends
    try:
        job = _run(backups.back_up_now(item, alice))
    finally:
        os.close(fd)
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith(
        "Could not communicate with the VM agent for snapshot status. Snapshot VM sub task timed out.")
    assert _steps(job) == [("Take Snapshot", JobStatus.FAILED)]
    assert _no_snapshots_left(item)


@pytest.mark.django_db
def test_full_vault_storage_fails_the_job_and_still_deletes_the_snapshot(alice, alpha, monkeypatch):
    item = make_protected_item(alpha)

    def full(*args, **kwargs):
        raise engine.StoreFull()

    monkeypatch.setattr(backups.engine, "backup_snapshot", full)
    job = _run(backups.back_up_now(item, alice))
    assert job.status == JobStatus.FAILED
    assert "vault storage is full" in job.error_message
    assert job.recommended_action
    assert _steps(job) == [("Take Snapshot", "completed"), ("Transfer data to Backup vault", "failed"),
                           ("Delete snapshot", "completed")]
    assert not RecoveryPoint.objects.exists()
    assert _no_snapshots_left(item)


@pytest.mark.django_db
def test_cancel_during_the_transfer_keeps_no_point_and_deletes_the_snapshot(alice, alpha, monkeypatch):
    item = make_protected_item(alpha)
    take = backups.take_vm_snapshot

    def take_then_cancel(target):
        snapshot = take(target)
        Job.objects.filter(operation=Operation.BACKUP).update(cancel_requested=True, status=JobStatus.CANCELLING)
        return snapshot

    monkeypatch.setattr(backups, "take_vm_snapshot", take_then_cancel)
    job = _run(backups.back_up_now(item, alice))
    assert job.status == JobStatus.CANCELLED
    assert _steps(job) == [("Take Snapshot", "completed"), ("Transfer data to Backup vault", "cancelled"),
                           ("Delete snapshot", "completed")]
    assert not RecoveryPoint.objects.exists()
    assert engine.Store.open(item.vault.store_path).list_manifests() == []
    assert _no_snapshots_left(item)
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.PENDING  # a cancel is not a failing backup


@pytest.mark.django_db
def test_a_retried_job_adopts_the_point_its_first_attempt_committed(alice, alpha, monkeypatch):
    item = make_protected_item(alpha)
    job = backups.back_up_now(item, alice)
    record = backups.record_point
    calls = []

    def crash_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise SystemExit("worker died after the manifest was committed")
        return record(*args)

    monkeypatch.setattr(backups, "record_point", crash_once)
    with pytest.raises(SystemExit):
        runner.run(job.pk)
    # Redelivery: the job's heartbeat went stale, so the next worker may claim it again.
    Job.objects.filter(pk=job.pk).update(heartbeat_at="2000-01-01T00:00:00Z")
    job = _run(job)
    assert job.status == JobStatus.COMPLETED
    assert RecoveryPoint.objects.get().point_id == f"job-{job.pk}"
    assert [m.point_id for m in engine.Store.open(item.vault.store_path).list_manifests()] == [f"job-{job.pk}"]
    assert _no_snapshots_left(item)  # the first attempt's snapshot was cleaned up


@pytest.mark.django_db
def test_run_scheduled_backups_starts_one_job_per_protected_item_of_the_policy(alpha):
    item = make_protected_item(alpha)
    other = make_protected_item(alpha, vault=item.vault)
    other.policy = item.policy
    other.save()
    stopped = make_protected_item(alpha, vault=item.vault)
    stopped.policy, stopped.status = item.policy, ProtectedItem.Status.STOPPED
    stopped.save()
    started = backups.run_scheduled_backups(item.policy_id)
    assert sorted(j.params["protected_item_id"] for j in started) == [item.pk, other.pk]
    assert all(j.scheduled and j.created_by is None and j.status == JobStatus.IN_PROGRESS for j in started)


@pytest.mark.django_db
def test_a_snapshot_that_cannot_be_deleted_after_the_point_is_recorded_is_a_warning_not_a_failure(
        alice, alpha, monkeypatch):
    from backup.fabric.snapshots import Snapshot, SnapshotError

    item = make_protected_item(alpha)

    def broken_delete(self):
        raise SnapshotError("the disk is busy")

    monkeypatch.setattr(Snapshot, "delete", broken_delete)
    job = _run(backups.back_up_now(item, alice))
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.result["warning"] == backups.SNAPSHOT_NOT_DELETED and job.error_message == ""
    assert _steps(job) == [(name, JobStatus.COMPLETED) for name in STEPS[:3]] + [("Delete snapshot", "failed")]
    assert RecoveryPoint.objects.get(protected_item=item).point_id == f"job-{job.pk}"
    item.refresh_from_db()
    assert item.status == ProtectedItem.Status.PROTECTED
    monkeypatch.undo()
    # The next backup removes the snapshot left behind.
    assert not _no_snapshots_left(item)
    following = _run(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), alice))
    assert following.status == JobStatus.COMPLETED and "warning" not in following.result
    assert _no_snapshots_left(item)


@pytest.mark.django_db
def test_a_snapshot_deletion_error_before_any_point_still_fails_the_job(alice, alpha, monkeypatch):
    from backup.fabric.snapshots import Snapshot, SnapshotError

    item = make_protected_item(alpha)

    def full(*args, **kwargs):
        raise engine.StoreFull()

    def broken_delete(self):
        raise SnapshotError("the disk is busy")

    monkeypatch.setattr(backups.engine, "backup_snapshot", full)
    monkeypatch.setattr(Snapshot, "delete", broken_delete)
    job = _run(backups.back_up_now(item, alice))
    assert job.status == JobStatus.FAILED and not RecoveryPoint.objects.exists()


@pytest.mark.django_db
def test_garbage_collection_first_adopts_a_committed_point_the_portal_never_recorded(alice, alpha, monkeypatch):
    from backup.vms.services import gc

    item = make_protected_item(alpha)
    job = backups.back_up_now(item, alice)

    def killed(*args):
        raise SystemExit("worker died after the manifest was committed")

    monkeypatch.setattr(backups, "record_point", killed)
    with pytest.raises(SystemExit):
        runner.run(job.pk)
    monkeypatch.undo()
    # Ended without its point and without its clean-up (as an older release left it).
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error_code="WorkerLost",
                                         error_message="The worker running this job stopped.")
    store = engine.Store.open(item.vault.store_path)
    assert store.has_manifest(f"job-{job.pk}") and not RecoveryPoint.objects.exists()

    collected = _run(gc.start_gc(item.vault, user=alice))
    assert collected.status == JobStatus.COMPLETED, collected.error_message
    assert collected.result["recovery_points_adopted"] == 1
    point = RecoveryPoint.objects.get(point_id=f"job-{job.pk}")
    assert point.protected_item_id == item.pk and point.job_id == job.pk
    assert [s.name for s in collected.subtasks.all()] == ["Reconcile recovery points", "Free unreferenced data"]
    # A second run has nothing left to adopt.
    assert _run(gc.start_gc(item.vault, user=alice)).result["recovery_points_adopted"] == 0


@pytest.mark.django_db
def test_a_backup_recording_its_point_is_not_in_a_cancellable_state(alice, alpha, monkeypatch):
    from backup.jobs.errors import CANCEL_NOT_NOW, CANCEL_NOT_SUPPORTED, Refused

    item = make_protected_item(alpha)
    job = backups.back_up_now(item, alice)
    record = backups.record_point
    refusals = []

    def cancel_meanwhile(*args):
        with pytest.raises(Refused) as refused:
            jobs.request_cancel(Job.objects.get(pk=job.pk))
        refusals.append(refused.value.message)
        return record(*args)

    monkeypatch.setattr(backups, "record_point", cancel_meanwhile)
    job = _run(job)
    assert refusals == [CANCEL_NOT_NOW] and CANCEL_NOT_NOW != CANCEL_NOT_SUPPORTED
    assert job.status == JobStatus.COMPLETED and not job.cancel_requested
    assert RecoveryPoint.objects.get(protected_item=item).point_id == f"job-{job.pk}"


@pytest.mark.django_db
def test_the_job_page_shows_the_backup_size_and_not_what_the_job_records_for_itself(alice_client, alice, alpha):
    from django.template.defaultfilters import filesizeformat
    from django.urls import reverse

    item = make_protected_item(alpha)
    job = _run(backups.back_up_now(item, alice))
    assert job.status == JobStatus.COMPLETED, job.error_message
    text = alice_client.get(reverse("job-detail", args=[job.pk])).content.decode()
    assert "BACKUP SIZE" in text and str(filesizeformat(job.result["backup_size_bytes"])) in text
    for internal in ("BACKUP_SIZE_BYTES", "DATA_READ_BYTES", "RECOVERY_POINT", "CONSISTENCY"):
        assert internal not in text
