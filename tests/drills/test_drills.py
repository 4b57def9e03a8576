"""Restore drills: real backups restored into a sandbox storage account, proven chunk by chunk, removed always;
a failed drill raises an alert. The jobs run in-process through the runner, as a worker runs them."""

import pytest

from backup.alerts.models import Alert, Kind
from backup.drills import services as drills
from backup.drills.models import DrillPlan, DrillResult
from backup.jobs import runner
from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import StorageAccount
from backup.vms.services import backup as backups
from tests.factories import make_protected_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(alpha, alice):
    item = make_protected_item(alpha)
    job = backups.back_up_now(item, alice)
    runner.run(job.pk)
    assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED
    sandbox = StorageAccount.objects.create(subscription=alpha, name="drillsandbox", region="West US")
    return DrillPlan.objects.create(vault=item.vault, name="Nightly drill", sandbox_account=sandbox)


def _run(plan, alice) -> Job:
    job = drills.start_drill(plan, user=alice)
    runner.run(job.pk)
    job.refresh_from_db()
    return job


def _leftovers(plan) -> list:
    folder = plan.sandbox_account.folder
    return list(folder.iterdir()) if folder.exists() else []


def test_a_drill_restores_every_disk_byte_exact_records_the_rto_and_leaves_nothing(plan, alice):
    job = _run(plan, alice)
    assert job.status == JobStatus.COMPLETED, job.error_message
    [result] = DrillResult.objects.all()
    assert result.status == "passed" and result.disks == 2 and result.chunks_checked > 0
    assert result.restore_seconds is not None and result.restore_seconds >= 0 and result.bytes_restored > 0
    assert "restored byte-exact" in result.message
    assert dict(job.properties)["Items drilled"] == 1
    assert _leftovers(plan) == []


def test_a_restored_disk_that_differs_from_its_manifest_fails_the_drill_and_raises_an_alert(plan, alice,
                                                                                             monkeypatch):
    real = drills.engine.restore_point

    def rotten(store, point_id, targets, **kwargs):
        restored = real(store, point_id, targets, **kwargs)
        path = next(iter(targets.values()))
        with open(path, "r+b") as fh:
            first = fh.read(1)
            fh.seek(0)
            fh.write(bytes([first[0] ^ 0xFF]))
        return restored

    monkeypatch.setattr(drills.engine, "restore_point", rotten)
    job = _run(plan, alice)
    assert job.status == JobStatus.FAILED and job.error_code == "DrillFailed"
    [result] = DrillResult.objects.all()
    assert result.status == "failed" and "1 chunk(s) differ from the manifest" in result.message
    assert _leftovers(plan) == []
    [alert] = Alert.objects.filter(kind=Kind.DRILL_FAILED)
    assert alert.job_id == job.pk and alert.item_name == "Nightly drill" and alert.severity == "critical"

    monkeypatch.setattr(drills.engine, "restore_point", real)
    assert _run(plan, alice).status == JobStatus.COMPLETED
    alert.refresh_from_db()
    assert alert.state == "resolved"


def test_the_clean_up_removes_what_a_killed_drill_left_in_the_sandbox(plan, alice):
    job = drills.start_drill(plan, user=alice)
    plan.sandbox_account.folder.mkdir(parents=True, exist_ok=True)
    leftover = plan.sandbox_account.folder / f"drill-{job.pk}-1-os.vhd"
    leftover.write_bytes(b"half a disk")
    other = plan.sandbox_account.folder / "disk-99.vhd"  # not the drill's: stays
    other.write_bytes(b"x")
    # The worker was lost: the reaper (or any end other than Completed) ends the job and runs its clean-up.
    assert runner.finish(job.pk, JobStatus.FAILED, message="The worker stopped.", code="WorkerLost")
    assert not leftover.exists() and other.exists()


def test_beat_starts_the_drills_that_are_due(plan):
    [job] = drills.start_due_drills()
    assert job.operation == Operation.DRILL and job.scheduled and job.item_name == "Nightly drill"
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
    assert drills.start_due_drills() == []  # the next one is due in 24 hours


def test_the_drills_tab_shows_the_last_result_per_item_with_its_rto_and_starts_a_drill(plan, alice, alice_client):
    _run(plan, alice)
    _run(plan, alice)
    page = alice_client.get(f"/vaults/{plan.vault_id}/drills/").content.decode()
    assert "Nightly drill" in page and "Passed" in page and "RESTORE DURATION (RTO)" in page
    assert page.count('class="drill-bar"') == 2  # the trend of the two drills
    response = alice_client.post(f"/vaults/{plan.vault_id}/drills/", {"plan": plan.pk})
    assert response.status_code == 302
    assert Job.objects.filter(operation=Operation.DRILL).count() == 3
    assert alice_client.post(f"/vaults/{plan.vault_id}/drills/", {"plan": "x"}).status_code == 404


def test_a_sandbox_of_another_subscription_is_refused(plan, beta, alice):
    plan.sandbox_account = StorageAccount.objects.create(subscription=beta, name="betasandbox", region="West US")
    with pytest.raises(drills.ValidationError):
        drills.start_drill(plan, user=alice)


def test_the_api_lists_each_plans_last_result_per_item(plan, alice, client, api_headers, charlie):
    _run(plan, alice)
    auth = {"HTTP_AUTHORIZATION": api_headers(alice)["Authorization"]}
    [listed] = client.get(f"/api/v1/vaults/{plan.vault_id}/drills", **auth).json()
    [item] = listed["items"]
    assert listed["name"] == "Nightly drill" and item["status"] == "passed" and len(item["rto_trend_s"]) == 1
    outsider = {"HTTP_AUTHORIZATION": api_headers(charlie)["Authorization"]}
    assert client.get(f"/api/v1/vaults/{plan.vault_id}/drills", **outsider).status_code == 404
