"""The portal's Backup and Restore jobs on a real libvirtd, run by real Celery workers, with domains without an OS:
protect, back up (full, then incremental after writes into the running guest), restore to a new domain and disks
only (byte-identical to the point in time), cancel, a worker killed mid-backup, and libvirtd out of reach.

Every domain and volume is named azbt-* and removed afterwards (tests/kvm/conftest.py; the restored domains here).
"""

from __future__ import annotations

import hashlib
import types
from pathlib import Path

import pytest
from django.conf import settings

from backup.jobs import runner
from backup.jobs import services as jobs
from backup.jobs import tasks as job_tasks
from backup.jobs.models import Job, JobStatus
from backup.vms.models import ProtectedItem, RecoveryPoint, VirtualMachine
from backup.vms.services import backup as backups
from backup.vms.services import restore
from tests.factories import make_vault, protect
from tests.kvm_factories import make_host, make_kvm_vm
from tests.vms.test_backup_worker import _kill_tree
from tests.worker import start_worker, stop_worker, wait_for

# The driver's fixtures (a connection, a pool, domains without an OS): tests/kvm/conftest.py.
fixtures = pytest.importorskip("tests.kvm.conftest", reason="the KVM driver's test fixtures are not there")
URI, run, sha256_file = fixtures.URI, fixtures.run, fixtures.sha256_file

pytestmark = [pytest.mark.libvirt, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1 << 20
_RUN_JOB = job_tasks.run_job  # the task itself, before any test sends it elsewhere
SIZE = 64 * MiB


def _final(job: Job, timeout: float = 120) -> Job:
    def done():
        job.refresh_from_db()
        return job.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

    wait_for(done, timeout=timeout, message=f"job {job.pk} to end")
    return job


def _own_worker(monkeypatch, name: str, **env: str):
    """A worker of this test's own (throttled or not), so the session worker never takes its jobs."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-{name}"
    real = _RUN_JOB
    monkeypatch.setattr(job_tasks, "run_job",
                        types.SimpleNamespace(delay=lambda job_id: real.apply_async((job_id,), queue=queue)))
    return start_worker(name, Path(settings.VAR_DIR) / "logs", extra_env={"CELERY_TASK_DEFAULT_QUEUE": queue} | env)


def _protected(alpha, pool: str, domain) -> ProtectedItem:
    host = make_host(alpha, uri=URI, pool=pool)
    disks = [(t, str(d.path), d.size) for t, d in domain.disks.items()]
    vm = make_kvm_vm(host, name=domain.name, domain_uuid=domain.uuid, disks=disks)
    return protect(make_vault(alpha), vm)


def _no_backup_job(domain) -> bool:
    import libvirt

    return domain.dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE


def _raw_digest(volume: Path, tmp_path: Path) -> str:
    raw = tmp_path / f"{volume.name}.raw"
    run("qemu-img", "convert", "-U", "-O", "raw", str(volume), str(raw))
    try:
        return sha256_file(raw)
    finally:
        raw.unlink()


@pytest.fixture
def restored_domains(lv):
    """Domains the tests' restores define: undefined afterwards, whatever happened."""
    import libvirt

    uuids: list[str] = []
    yield uuids
    for uuid in uuids:
        try:
            dom = lv.lookupByUUIDString(uuid)
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
        except libvirt.libvirtError:
            pass


def test_full_then_incremental_backups_restore_byte_identical(celery_worker, alice, alpha, pool, make_domain,
                                                             restored_domains, tmp_path):
    domain = make_domain([("vda", "qcow2", SIZE)], fill=[("vda", 0, 6 * MiB, 0x11), ("vda", 40 * MiB, MiB, 0x22)])
    item = _protected(alpha, pool, domain)

    full = _final(backups.back_up_now(item, alice))
    assert full.status == JobStatus.COMPLETED, full.error_message
    first = RecoveryPoint.objects.get(point_id=f"job-{full.pk}")
    at_first = hashlib.sha256(domain.snapshot_models()["vda"]).hexdigest()
    assert first.consistency == "crash" and "<domain" in first.machine_config
    assert full.result["Consistency"].startswith("Crash consistent - The domain has no guest agent channel")
    # Allocated extents only, in the store's 4 MiB chunks (two for the first 6 MiB, one at 40 MiB): not 64 MiB.
    assert full.result["data_read_bytes"] == 12 * MiB

    domain.write("vda", 20 * MiB, 64 * 1024, 0x5A)  # into the running guest, through QEMU
    incremental = _final(backups.back_up_now(item, alice))
    assert incremental.status == JobStatus.COMPLETED, incremental.error_message
    second = RecoveryPoint.objects.get(point_id=f"job-{incremental.pk}")
    at_second = hashlib.sha256(domain.snapshot_models()["vda"]).hexdigest()
    assert incremental.result["data_read_bytes"] <= 4 * MiB  # the chunk of the dirty 64 KiB, not the disk

    host = item.vm.host
    job = _final(restore.start_restore(second, user=alice, vm_name=f"{domain.name}-r"[:15],
                                       cloud_service=host.cloud_service.name,
                                       storage_account=host.storage_account.name, start_vm=True))
    if "domain_uuid" in job.result:
        restored_domains.append(job.result["domain_uuid"])
    assert job.status == JobStatus.COMPLETED, job.error_message
    vm = VirtualMachine.objects.get(pk=job.result["restored_vm_id"])
    assert vm.host_id == host.pk and vm.domain_uuid and vm.domain_uuid != domain.uuid
    assert vm.power_state == VirtualMachine.PowerState.RUNNING
    assert job.result["Guest agent"] == "No guest agent channel"  # a domain without an OS: see tests of the guest
    assert _raw_digest(Path(vm.disks.get().source_path), tmp_path) == at_second

    disks_only = _final(restore.start_restore(first, user=alice, storage_account=host.storage_account.name,
                                              disks_only=True))
    assert disks_only.status == JobStatus.COMPLETED, disks_only.error_message
    volume = Path(vm.disks.get().source_path).parent / disks_only.result["restored_disks"]["vda"]
    assert _raw_digest(volume, tmp_path) == at_first
    assert _no_backup_job(domain)


def test_a_checkpoint_lost_behind_the_products_back_gives_a_full_compare_and_an_identical_restore(
        celery_worker, alice, alpha, pool, images_dir, make_domain, tmp_path):
    import libvirt

    domain = make_domain([("vda", "qcow2", SIZE)], fill=[("vda", 0, 2 * MiB, 0x12)])
    item = _protected(alpha, pool, domain)
    first = _final(backups.back_up_now(item, alice))
    assert first.status == JobStatus.COMPLETED, first.error_message
    # libvirt forgets the checkpoint; its bitmap stays in the image, as after a crash-and-recover by hand.
    domain.dom.checkpointLookupByName(f"azbk-job-{first.pk}").delete(
        libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)
    domain.write("vda", 30 * MiB, 64 * 1024, 0x5B)

    second = _final(backups.back_up_now(item, alice))
    assert second.status == JobStatus.COMPLETED, second.error_message
    assert second.result["Data read"].startswith("Full read instead of an incremental")
    assert second.result["backup_size_bytes"] <= 4 * MiB  # compared with the last point: only new chunks stored
    point = RecoveryPoint.objects.get(point_id=f"job-{second.pk}")
    host = item.vm.host
    disks = _final(restore.start_restore(point, user=alice, storage_account=host.storage_account.name,
                                         disks_only=True))
    assert disks.status == JobStatus.COMPLETED, disks.error_message
    volume = images_dir / "pool" / disks.result["restored_disks"]["vda"]
    assert _raw_digest(volume, tmp_path) == hashlib.sha256(domain.snapshot_models()["vda"]).hexdigest()

    domain.write("vda", 50 * MiB, 64 * 1024, 0x5C)
    third = _final(backups.back_up_now(item, alice))  # the fresh chain holds
    assert third.status == JobStatus.COMPLETED, third.error_message
    assert third.result["Data read"].startswith("Incremental") and third.result["data_read_bytes"] <= 4 * MiB


def test_a_cancelled_backup_leaves_no_libvirt_job_and_the_next_one_works(alice, alpha, pool, make_domain,
                                                                          monkeypatch):
    domain = make_domain([("vda", "qcow2", SIZE)], fill=[("vda", 0, 24 * MiB, 0x33)])
    item = _protected(alpha, pool, domain)
    worker = _own_worker(monkeypatch, "kvm-cancel", BACKUP_TEST_THROTTLE_S="0.5")
    try:
        job = backups.back_up_now(item, alice)
        wait_for(lambda: Job.objects.get(pk=job.pk).bytes_done > 0, timeout=60, message="the transfer to start")
        assert not _no_backup_job(domain)
        jobs.request_cancel(job)
        job = _final(job)
        assert job.status == JobStatus.CANCELLED
        assert _no_backup_job(domain) and domain.dom.isActive()
        assert not RecoveryPoint.objects.exists()

        following = _final(backups.back_up_now(item, alice))
    finally:
        stop_worker(worker)
    assert following.status == JobStatus.COMPLETED, following.error_message
    assert _no_backup_job(domain)


def test_the_job_a_killed_worker_left_is_ended_and_the_next_backup_succeeds(alice, alpha, pool, make_domain,
                                                                             monkeypatch, settings):
    settings.JOB_HEARTBEAT_TIMEOUT_S = 3
    domain = make_domain([("vda", "qcow2", SIZE)], fill=[("vda", 0, 24 * MiB, 0x44)])
    item = _protected(alpha, pool, domain)
    worker = _own_worker(monkeypatch, "kvm-doomed", BACKUP_TEST_THROTTLE_S="0.5", JOB_HEARTBEAT_TIMEOUT_S="3")
    job = backups.back_up_now(item, alice)
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).bytes_done > 0, timeout=60, message="the transfer to start")
    finally:
        _kill_tree(worker.pid)
        worker.wait()
        worker.log_file.close()
    assert not _no_backup_job(domain)  # the killed worker's libvirt backup job is still there

    wait_for(lambda: runner.reap_lost_jobs() or Job.objects.get(pk=job.pk).status != JobStatus.IN_PROGRESS,
             timeout=20, interval=0.5, message="the reaper to fail the lost job")
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED
    assert _no_backup_job(domain)  # the reaper's clean-up ended it

    worker = _own_worker(monkeypatch, "kvm-next", JOB_HEARTBEAT_TIMEOUT_S="3")
    try:
        following = _final(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), alice))
    finally:
        stop_worker(worker)
    assert following.status == JobStatus.COMPLETED, following.error_message
    assert _no_backup_job(domain)


def test_a_shut_off_domain_is_backed_up_crash_consistent_and_restores_identical(
        celery_worker, alice, alpha, pool, images_dir, make_domain, tmp_path):
    domain = make_domain([("vda", "qcow2", SIZE)], fill=[("vda", 0, 2 * MiB, 0x66)])
    item = _protected(alpha, pool, domain)
    assert _final(backups.back_up_now(item, alice)).status == JobStatus.COMPLETED
    domain.shutdown()
    domain.write("vda", 10 * MiB, 128 * 1024, 0x77)  # offline, with qemu-io
    job = _final(backups.back_up_now(item, alice))
    assert job.status == JobStatus.COMPLETED, job.error_message
    point = RecoveryPoint.objects.get(point_id=f"job-{job.pk}")
    assert point.consistency == "crash"
    host = item.vm.host
    disks = _final(restore.start_restore(point, user=alice, storage_account=host.storage_account.name,
                                         disks_only=True))
    assert disks.status == JobStatus.COMPLETED, disks.error_message
    volume = images_dir / "pool" / disks.result["restored_disks"]["vda"]  # the pool fixture's folder
    assert _raw_digest(volume, tmp_path) == hashlib.sha256(domain.snapshot_models()["vda"]).hexdigest()


def test_a_cancelled_restore_leaves_nothing_on_the_host(celery_worker, alice, alpha, pool, images_dir, make_domain,
                                                        lv, monkeypatch, restored_domains):
    # More chunks than the restore keeps in flight, each read slowly: the cancel lands mid-restore.
    domain = make_domain([("vda", "qcow2", SIZE)], fill=[("vda", 0, 56 * MiB, 0x21)])
    item = _protected(alpha, pool, domain)
    point_job = _final(backups.back_up_now(item, alice))
    assert point_job.status == JobStatus.COMPLETED, point_job.error_message
    point = RecoveryPoint.objects.get(point_id=f"job-{point_job.pk}")
    host = item.vm.host
    before = set((images_dir / "pool").iterdir())
    worker = _own_worker(monkeypatch, "kvm-restore-cancel", FAULT_SLOW_CHUNK_READ_S="1")
    name = f"{domain.name}-c"[:15]
    try:
        job = restore.start_restore(point, user=alice, vm_name=name, cloud_service=host.cloud_service.name,
                                    storage_account=host.storage_account.name)
        wait_for(lambda: Job.objects.get(pk=job.pk).subtasks.filter(name=restore.STEP_DISKS).exists(), timeout=60,
                 message="the disks' restore to start")
        jobs.request_cancel(job)
        job = _final(job)
    finally:
        stop_worker(worker)
    if "domain_uuid" in job.result:
        restored_domains.append(job.result["domain_uuid"])  # finished before the cancel: undefined afterwards
    assert job.status == JobStatus.CANCELLED
    assert set((images_dir / "pool").iterdir()) == before  # no volume, no staging file
    assert not VirtualMachine.objects.filter(name=name).exists()
    assert name not in [d.name() for d in lv.listAllDomains()]


def test_a_domain_undefined_on_its_host_no_longer_exists_for_a_backup(celery_worker, alice, alpha, pool,
                                                                      make_domain):
    domain = make_domain([("vda", "qcow2", SIZE)])
    item = _protected(alpha, pool, domain)
    domain.remove()
    job = _final(backups.back_up_now(item, alice))
    assert (job.status, job.error_code, job.error_message) == (JobStatus.FAILED, "VmNotFound",
                                                                backups.VM_NO_LONGER_EXISTS)


def test_an_unreachable_libvirtd_fails_the_backup_with_a_clear_message(celery_worker, alice, alpha, tmp_path):
    host = make_host(alpha, uri=f"qemu+unix:///system?socket={tmp_path}/no-libvirtd.sock", pool="default")
    vm = make_kvm_vm(host, name="azbt-nowhere", domain_uuid="0b5c6f0e-2f43-4d39-9d1f-3f5a1d2e0c11",
                     disks=[("vda", "/var/lib/libvirt/images/azbt-nowhere.qcow2", SIZE)])
    item = protect(make_vault(alpha), vm)
    job = _final(backups.back_up_now(item, alice))
    assert (job.status, job.error_code) == (JobStatus.FAILED, "KvmHostUnavailable")
    assert job.error_message.startswith(f"The KVM host {host.name} could not be reached: ")
    assert "libvirtd" in job.recommended_action
