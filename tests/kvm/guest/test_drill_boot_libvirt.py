"""A restore drill with boot check on a real libvirtd, run by a real worker: the tiny guest's domain is backed up,
its point restored into the host's pool, started as the sandbox domain azbk-drill-<job>, its agent awaited, and
the domain and volumes removed afterwards."""

from __future__ import annotations

import pytest

from backup.drills import services as drills
from backup.drills.models import DrillPlan, DrillResult
from backup.jobs.models import Job, JobStatus
from backup.vms.models import StorageAccount
from backup.vms.services import backup as backups
from tests.factories import make_vault, protect
from tests.kvm_factories import make_host, make_kvm_vm
from tests.worker import wait_for

from ..conftest import URI
from .conftest import remove_domain

pytestmark = [pytest.mark.libvirt, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _final(job: Job, timeout: float) -> Job:
    def done():
        job.refresh_from_db()
        return job.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

    wait_for(done, timeout=timeout, message=f"job {job.pk} to end")
    return job


def test_a_drill_with_boot_check_boots_the_guests_point_and_leaves_nothing(celery_worker, guest, guest_host, pool,
                                                                          lv, alice, alpha):
    capacity = guest.dom.blockInfo("vda")[0]
    host = make_host(alpha, uri=URI, pool=pool)
    vm = make_kvm_vm(host, name=guest.name, domain_uuid=guest.uuid, disks=[("vda", str(guest.root_disk), capacity)])
    item = protect(make_vault(alpha), vm)
    backup = _final(backups.back_up_now(item, alice), timeout=180)
    assert backup.status == JobStatus.COMPLETED, backup.error_message

    sandbox = StorageAccount.objects.create(subscription=alpha, name="drillsandboxkvm", region="West US")
    plan = DrillPlan.objects.create(vault=item.vault, name="Boot drill", sandbox_account=sandbox, boot_check=True)
    job = drills.start_drill(plan, user=alice)
    name = f"azbk-drill-{job.pk}"
    pool_dir = guest_host.pool_path(pool)
    try:
        job = _final(job, timeout=400)
        [result] = DrillResult.objects.filter(job_id=job.pk)
        assert job.status == JobStatus.COMPLETED, (job.error_message, result.message, result.boot_result)
        assert result.status == "passed" and "restored byte-exact" in result.message
        assert result.boot_result.startswith("Boot check: agent answered in "), result.boot_result
        print(f"drill {job.pk}: {result.boot_result} (restore {result.restore_seconds} s)")
        assert name not in {d.name() for d in lv.listAllDomains()}
        assert not [p.name for p in pool_dir.iterdir() if p.name.lstrip(".").startswith(f"{name}-")]
        assert "made" not in job.result
    finally:
        remove_domain(lv, name)
        for leftover in pool_dir.glob(f"*{name}-*"):
            guest_host.delete_volume(leftover)
