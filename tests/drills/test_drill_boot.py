"""Restore drills with boot check, against a stand-in KVM host whose pool is a folder: the disks go into the host's
pool as azbk-drill-<job>-... volumes, a sandbox domain azbk-drill-<job> is started and its agent awaited, and all
of it is removed, also by the job's clean-up when the worker was lost. Against a real libvirtd:
tests/kvm/guest/test_drill_boot_libvirt.py."""

import pytest

from backup import kvm
from backup.alerts.models import Alert, Kind
from backup.drills import services as drills
from backup.drills.models import DrillPlan, DrillResult
from backup.jobs import runner
from backup.jobs.models import Job, JobStatus
from backup.vms.models import StorageAccount
from backup.vms.services import backup as backups
from backup.vms.services import hosts
from tests.factories import make_protected_item, make_vault, protect
from tests.kvm_factories import make_host, make_kvm_vm
from tests.vms.helpers import run_jobs
from tests.vms.test_kvm_jobs import FakeHost, MiB

pytestmark = pytest.mark.django_db


class BootingHost(FakeHost):
    """Its restored domains have an agent channel; `answers` says whether their agent answers."""

    answers = True
    waited: list

    def _info(self, domain_uuid: str) -> kvm.DomainInfo:
        info = super()._info(domain_uuid)
        return kvm.DomainInfo(**{**info.__dict__, "agent_channel": True})

    def wait_for_agent(self, domain_uuid: str, timeout_s: float) -> bool:
        self.waited.append((self.domains[domain_uuid]["name"], self.domains[domain_uuid]["running"], timeout_s))
        return self.answers


@pytest.fixture
def host(monkeypatch, tmp_path):
    fake = BootingHost(tmp_path)
    fake.waited = []
    monkeypatch.setattr(hosts, "connect", lambda row: fake)
    return fake


@pytest.fixture
def plan(host, alpha, alice, settings):
    settings.DRILL_BOOT_TIMEOUT_S = 7
    row = make_host(alpha)
    domain_uuid, image = host.add_domain("azbt-web")
    vm = make_kvm_vm(row, name="azbt-web", domain_uuid=domain_uuid, disks=[("vda", str(image), 2 * MiB)])
    item = protect(make_vault(alpha), vm)
    [job] = run_jobs(backups.back_up_now(item, alice))
    assert job.status == JobStatus.COMPLETED, job.error_message
    sandbox = StorageAccount.objects.create(subscription=alpha, name="drillsandbox", region="West US")
    return DrillPlan.objects.create(vault=item.vault, name="Boot drill", sandbox_account=sandbox, boot_check=True)


def _run(plan, alice) -> Job:
    job = drills.start_drill(plan, user=alice)
    runner.run(job.pk)
    job.refresh_from_db()
    return job


def _left(host) -> tuple[list, list]:
    domains = [d["name"] for d in host.domains.values() if d["name"].startswith("azbk-drill")]
    files = [p.name for p in host.pool.iterdir() if "azbk-drill" in p.name]
    return domains, files


def test_a_boot_check_starts_a_sandbox_domain_waits_for_its_agent_and_removes_everything(host, plan, alice):
    job = _run(plan, alice)
    assert job.status == JobStatus.COMPLETED, job.error_message
    [result] = DrillResult.objects.all()
    assert result.status == "passed" and "restored byte-exact" in result.message and result.chunks_checked > 0
    assert result.boot_result.startswith("Boot check: agent answered in ")
    [define] = [c for c in host.calls if c[0] == "define"]
    assert define[1] == f"azbk-drill-{job.pk}" and define[3] is True
    assert all(p.name.startswith(f"azbk-drill-{job.pk}-") for p in define[2].values())
    assert host.waited == [(f"azbk-drill-{job.pk}", True, 7.0)]
    assert _left(host) == ([], [])
    assert "made" not in job.result
    assert not plan.sandbox_account.folder.exists() or not list(plan.sandbox_account.folder.iterdir())


def test_an_agent_that_does_not_answer_fails_the_drill_raises_the_alert_and_leaves_nothing(host, plan, alice):
    host.answers = False
    job = _run(plan, alice)
    assert job.status == JobStatus.FAILED and job.error_code == "DrillFailed"
    [result] = DrillResult.objects.all()
    assert result.status == "failed" and result.boot_result == (
        "Boot check failed: the sandbox domain's guest agent did not answer within 7 s.")
    assert _left(host) == ([], [])
    [alert] = Alert.objects.filter(kind=Kind.DRILL_FAILED)
    assert alert.job_id == job.pk


def test_the_drills_tab_and_the_api_show_the_boot_result(host, plan, alice, alice_client, client, api_headers):
    _run(plan, alice)
    page = alice_client.get(f"/vaults/{plan.vault_id}/drills/").content.decode()
    assert "Boot check: agent answered in" in page and "boot check:" in page
    auth = {"HTTP_AUTHORIZATION": api_headers(alice)["Authorization"]}
    [listed] = client.get(f"/api/v1/vaults/{plan.vault_id}/drills", **auth).json()
    assert listed["boot_check"] is True
    assert listed["items"][0]["boot_result"].startswith("Boot check: agent answered in")


def test_the_clean_up_of_a_killed_drill_removes_its_sandbox_domain_and_volumes(host, plan, alice, monkeypatch):
    real = drills._remove_made
    seen = {}

    def killed(made, connection=None):
        if connection is not None:  # the drill's own finally: the worker dies before it runs
            seen["left"] = _left(host)
            raise KeyboardInterrupt
        real(made, connection)

    monkeypatch.setattr(drills, "_remove_made", killed)
    job = drills.start_drill(plan, user=alice)
    with pytest.raises(KeyboardInterrupt):
        runner.run(job.pk)
    assert seen["left"][0] == [f"azbk-drill-{job.pk}"] and seen["left"][1]
    assert _left(host) == seen["left"]  # nothing removed yet
    job.refresh_from_db()
    assert job.result["made"]["domains"] == [f"azbk-drill-{job.pk}"]
    # The worker was lost: the reaper ends the job and runs its clean-up.
    assert runner.finish(job.pk, JobStatus.FAILED, message="The worker stopped.", code="WorkerLost")
    assert _left(host) == ([], [])
    assert "made" not in Job.objects.get(pk=job.pk).result


def test_a_simulated_machine_is_drilled_without_boot_check_with_a_note(alpha, alice, host):
    item = make_protected_item(alpha)
    [job] = run_jobs(backups.back_up_now(item, alice))
    sandbox = StorageAccount.objects.create(subscription=alpha, name="drillsandbox2", region="West US")
    plan = DrillPlan.objects.create(vault=item.vault, name="Sim drill", sandbox_account=sandbox, boot_check=True)
    assert _run(plan, alice).status == JobStatus.COMPLETED
    [result] = DrillResult.objects.all()
    assert result.status == "passed" and result.boot_result == "No boot check for simulated machines."
    assert not [c for c in host.calls if c[0] == "define"]
