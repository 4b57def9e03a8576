"""The Backup and Restore jobs of KVM machines, run in-process against a stand-in host that keeps its domains'
disks in plain files: what the jobs ask of a host and what they make of its answers and failures. The same jobs
against a real libvirtd are in tests/kvm/test_kvm_jobs_libvirt.py."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backup import engine, kvm
from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import RecoveryPoint, VirtualMachine
from backup.vms.services import backup as backups
from backup.vms.services import hosts, restore
from tests.factories import make_vault, make_vm, protect
from tests.kvm_factories import make_host, make_kvm_vm
from tests.vms.helpers import run_jobs

MiB = 1 << 20
STEPS = ["Take Snapshot", "Transfer data to Backup vault", "Create recovery point", "Delete snapshot"]
XML = "<domain type='qemu'><name>{name}</name><devices><disk device='disk'><target dev='vda'/></disk></devices>" \
      "</domain>"


class FakeDisk:
    def __init__(self, key: str, data: bytes, change_id: str) -> None:
        self.key, self.size, self.change_id, self._data = key, len(data), change_id, data

    def data_ranges(self):
        return [(0, self.size)]

    def read(self, offset: int, length: int) -> bytes:
        return self._data[offset:offset + length]

    def changed_ranges_since(self, change_id: str):
        return None


class FakeSnapshot:
    def __init__(self, host, uuid_: str, disks) -> None:
        self.host, self.uuid = host, uuid_
        self.id = "s"
        self.consistency = "crash"
        self.created_at = datetime.now(UTC)
        self.domain_xml = XML.format(name=host.domains[uuid_]["name"])
        self.notes = ["The domain has no guest agent channel: the point is crash-consistent."]
        self._disks = disks

    @property
    def disks(self):
        return self._disks

    def delete(self) -> None:
        self.host.jobs.discard(self.uuid)


class FakeHost:
    """A host whose domains' disks are files; `fail` makes the next begin_backup raise it."""

    def __init__(self, pool: Path) -> None:
        self.pool = pool
        self.domains: dict[str, dict] = {}
        self.jobs: set[str] = set()  # domains with a backup job running
        self.calls: list[tuple] = []
        self.fail: Exception | None = None

    def add_domain(self, name: str, size: int = 2 * MiB) -> tuple[str, Path]:
        domain_uuid = str(uuid.uuid4())
        image = self.pool / f"{name}-vda.img"
        image.write_bytes(bytes(range(256)) * (size // 256))
        self.domains[domain_uuid] = {"name": name, "disks": {"vda": image}, "running": True}
        return domain_uuid, image

    def close(self) -> None:
        pass

    def _info(self, domain_uuid: str) -> kvm.DomainInfo:
        d = self.domains[domain_uuid]
        return kvm.DomainInfo(uuid=domain_uuid, name=d["name"], state="running" if d["running"] else "shut off",
                              vcpus=1, memory_mib=64, disks=(), agent_channel=False, agent_responds=False, os_type="")

    def list_domains(self):
        return [self._info(u) for u in self.domains]

    def domain(self, domain_uuid: str):
        if domain_uuid not in self.domains:
            raise kvm.DomainNotFound(domain_uuid)
        return self._info(domain_uuid)

    def pool_path(self, pool: str) -> Path:
        return self.pool

    def begin_backup(self, domain_uuid, *, checkpoint, since, disks=None, quiesce=True, quiesce_timeout_s=10.0):
        self.calls.append(("begin_backup", domain_uuid, checkpoint, since, tuple(disks or ()), quiesce))
        if self.fail is not None:
            raise self.fail
        self.jobs.add(domain_uuid)
        images = self.domains[domain_uuid]["disks"]
        return FakeSnapshot(self, domain_uuid, [FakeDisk(k, images[k].read_bytes(), checkpoint) for k in disks])

    def end_leftover_backup(self, domain_uuid: str) -> bool:
        self.calls.append(("end_leftover_backup", domain_uuid))
        left = domain_uuid in self.jobs
        self.jobs.discard(domain_uuid)
        return left

    def create_volume(self, pool, name, capacity, fmt="qcow2") -> Path:
        path = self.pool / name
        path.touch(exist_ok=False)
        return path

    def import_raw_image(self, raw: Path, volume: Path) -> None:
        volume.write_bytes(raw.read_bytes())

    def delete_volume(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def define_restored_domain(self, source_xml, name, disks, *, start) -> str:
        self.calls.append(("define", name, dict(disks), start))
        new = str(uuid.uuid4())
        self.domains[new] = {"name": name, "disks": dict(disks), "running": start}
        return new

    def wait_for_agent(self, domain_uuid: str, timeout_s: float) -> bool:
        return False

    def undefine_domain(self, domain_uuid: str) -> None:
        self.domains.pop(domain_uuid, None)


@pytest.fixture
def fake_host(monkeypatch, tmp_path):
    host = FakeHost(tmp_path)
    monkeypatch.setattr(hosts, "connect", lambda row: host)
    return host


@pytest.fixture
def kvm_item(fake_host, alpha):
    row = make_host(alpha)
    domain_uuid, image = fake_host.add_domain("azbt-web")
    vm = make_kvm_vm(row, name="azbt-web", domain_uuid=domain_uuid, disks=[("vda", str(image), 2 * MiB)])
    return protect(make_vault(alpha), vm)


@pytest.mark.django_db
def test_a_kvm_backup_fixes_a_checkpoint_per_point_and_chains_the_next_on_it(fake_host, kvm_item, alice):
    first, = run_jobs(backups.back_up_now(kvm_item, alice))
    assert first.status == JobStatus.COMPLETED, first.error_message
    assert [(s.name, s.status) for s in first.subtasks.all()] == [(n, JobStatus.COMPLETED) for n in STEPS]
    point = RecoveryPoint.objects.get(point_id=f"job-{first.pk}")
    assert point.consistency == "crash" and point.machine_config.startswith("<domain")
    assert first.result["Consistency"] == (
        "Crash consistent - The domain has no guest agent channel: the point is crash-consistent.")
    assert first.result["Data read"] == "Full read of the allocated extents"
    assert [d["key"] for d in point.disks] == ["vda"]

    second, = run_jobs(backups.back_up_now(kvm_item, alice))
    assert second.status == JobStatus.COMPLETED, second.error_message
    begins = [c for c in fake_host.calls if c[0] == "begin_backup"]
    assert begins == [("begin_backup", kvm_item.vm.domain_uuid, f"azbk-job-{first.pk}", None, ("vda",), True),
                      ("begin_backup", kvm_item.vm.domain_uuid, f"azbk-job-{second.pk}", f"azbk-job-{first.pk}",
                       ("vda",), True)]
    assert second.result["Data read"] == "Incremental: only the extents changed since the last point"
    assert not fake_host.jobs


@pytest.mark.django_db
@pytest.mark.parametrize(("failure", "code", "message"), [
    (kvm.HostUnavailable("Failed to connect socket to '/nowhere': No such file or directory"), "KvmHostUnavailable",
     "The KVM host {host} could not be reached: Failed to connect socket"),
    (kvm.DomainNotFound("gone"), "VmNotFound", backups.VM_NO_LONGER_EXISTS),
    (kvm.BackupBusy("busy"), "KvmBackupBusy", "Another backup job is running on the virtual machine's domain"),
])
def test_host_failures_fail_the_backup_with_the_products_messages(fake_host, kvm_item, alice, failure, code,
                                                                   message):
    fake_host.fail = failure
    job, = run_jobs(backups.back_up_now(kvm_item, alice))
    assert (job.status, job.error_code) == (JobStatus.FAILED, code)
    assert job.error_message.startswith(message.format(host=kvm_item.vm.host.name))
    assert job.recommended_action
    kvm_item.refresh_from_db()
    assert kvm_item.last_backup_status == "failed"


@pytest.mark.django_db
def test_the_clean_up_of_a_failed_backup_ends_the_libvirt_job_it_left(fake_host, kvm_item, alice, monkeypatch):
    def killed(*args, **kwargs):
        raise RuntimeError("worker killed mid-transfer")

    monkeypatch.setattr(backups, "transfer", killed)
    job, = run_jobs(backups.back_up_now(kvm_item, alice))
    assert job.status == JobStatus.FAILED
    assert not fake_host.jobs


def _point(fake_host, kvm_item, alice) -> RecoveryPoint:
    job, = run_jobs(backups.back_up_now(kvm_item, alice))
    assert job.status == JobStatus.COMPLETED, job.error_message
    return RecoveryPoint.objects.get(point_id=f"job-{job.pk}")


@pytest.mark.django_db
def test_a_kvm_point_restores_to_a_new_domain_on_its_host(fake_host, kvm_item, alice):
    point = _point(fake_host, kvm_item, alice)
    host = kvm_item.vm.host
    job, = run_jobs(restore.start_restore(point, user=alice, vm_name="azbt-copy", cloud_service=host.cloud_service.name,
                                          storage_account=host.storage_account.name, start_vm=True))
    assert job.status == JobStatus.COMPLETED, job.error_message
    vm = VirtualMachine.objects.get(pk=job.result["restored_vm_id"])
    assert (vm.host_id, vm.name, vm.power_state) == (host.pk, "azbt-copy", VirtualMachine.PowerState.RUNNING)
    volume = Path(vm.disks.get().source_path)
    assert volume.read_bytes() == Path(kvm_item.vm.disks.get().source_path).read_bytes()
    assert fake_host.domains[vm.domain_uuid]["disks"] == {"vda": volume}
    assert job.result["KVM host"] == host.name and "made" not in job.result
    assert job.result["Guest agent"] == "No guest agent channel"
    assert not list(fake_host.pool.glob(".*.raw"))  # staging files go once imported

    # The same name again: refused, as restoring over an existing machine always is.
    with pytest.raises(ValidationError, match="replacing an existing virtual machine is not supported"):
        restore.validate_restore(point, vm_name="azbt-copy", cloud_service=host.cloud_service.name,
                                 storage_account=host.storage_account.name)


@pytest.mark.django_db
def test_a_domain_name_the_host_already_has_is_refused_by_the_job(fake_host, kvm_item, alice):
    point = _point(fake_host, kvm_item, alice)
    fake_host.add_domain("azbt-other")
    host = kvm_item.vm.host
    job, = run_jobs(restore.start_restore(point, user=alice, vm_name="azbt-other",
                                          cloud_service=host.cloud_service.name,
                                          storage_account=host.storage_account.name))
    assert (job.status, job.error_code) == (JobStatus.FAILED, "VmNameTaken")
    assert not VirtualMachine.objects.filter(name="azbt-other").exists()


@pytest.mark.django_db
def test_a_failed_kvm_restore_removes_its_volumes_domain_and_rows(fake_host, kvm_item, alice, monkeypatch):
    point = _point(fake_host, kvm_item, alice)
    host = kvm_item.vm.host

    def refused(*args, **kwargs):
        raise kvm.KvmError("unsupported configuration: machine type 'pc-q35-99' not available")

    monkeypatch.setattr(fake_host, "define_restored_domain", refused)
    before = set(fake_host.pool.iterdir())
    job, = run_jobs(restore.start_restore(point, user=alice, vm_name="azbt-copy", cloud_service=host.cloud_service.name,
                                          storage_account=host.storage_account.name))
    assert (job.status, job.error_code) == (JobStatus.FAILED, "KvmHostError")
    assert "machine type" in job.error_message
    assert set(fake_host.pool.iterdir()) == before
    assert not VirtualMachine.objects.filter(name="azbt-copy").exists()


@pytest.mark.django_db
def test_disks_only_writes_volumes_into_the_pool_and_records_them(fake_host, kvm_item, alice):
    point = _point(fake_host, kvm_item, alice)
    host = kvm_item.vm.host
    job, = run_jobs(restore.start_restore(point, user=alice, storage_account=host.storage_account.name,
                                          disks_only=True))
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.result["restored_disks"] == {"vda": f"restore-{job.pk}-vda.qcow2"}
    assert (fake_host.pool / f"restore-{job.pk}-vda.qcow2").read_bytes() == Path(
        kvm_item.vm.disks.get().source_path).read_bytes()
    assert len(fake_host.domains) == 1  # no domain defined
    assert job in restore.restored_disk_jobs(point.vault)


@pytest.mark.django_db
def test_points_and_targets_of_the_two_fabrics_do_not_mix(fake_host, kvm_item, alice, alpha):
    kvm_point = _point(fake_host, kvm_item, alice)
    host = kvm_item.vm.host
    sim = make_vm(alpha)
    sim_account = sim.disks.first().storage_account
    with pytest.raises(ValidationError, match="can be restored only to a KVM host"):
        restore.validate_restore(kvm_point, storage_account=sim_account.name, disks_only=True)
    with pytest.raises(ValidationError, match="Choose the cloud service of the host"):
        restore.validate_restore(kvm_point, vm_name="azbt-x", cloud_service=sim.cloud_service.name,
                                 storage_account=host.storage_account.name)

    sim_item = protect(kvm_item.vault, sim)
    job, = run_jobs(backups.back_up_now(sim_item, alice))
    sim_point = RecoveryPoint.objects.get(point_id=f"job-{job.pk}")
    with pytest.raises(ValidationError, match="only recovery points of KVM virtual machines"):
        restore.validate_restore(sim_point, storage_account=host.storage_account.name, disks_only=True)
    with pytest.raises(ValidationError, match="Starting the virtual machine after restore"):
        restore.validate_restore(sim_point, storage_account=sim_account.name, disks_only=True, start_vm=True)
    assert list(restore.storage_accounts_for(kvm_item.vault, kvm=True)) == [host.storage_account]
    assert host.storage_account not in restore.storage_accounts_for(kvm_item.vault, kvm=False)
    assert engine.Store.open(kvm_item.vault.store_path).has_manifest(kvm_point.point_id)


@pytest.mark.django_db
def test_the_wizard_offers_a_kvm_point_its_hosts_and_can_start_the_restored_domain(fake_host, kvm_item, alice,
                                                                                   alice_client, alpha):
    _point(fake_host, kvm_item, alice)
    host = kvm_item.vm.host
    other = make_vm(alpha)  # the simulated fabric's account and cloud service are not offered
    url = reverse("vault-restore", args=[kvm_item.vault_id])
    page = alice_client.post(url, {"item": kvm_item.pk, "step": "2", "mode": "newest"}).content.decode()
    assert f'<option value="{host.cloud_service.name}" selected>' in page
    assert host.storage_account.name in page and other.disks.first().storage_account.name not in page
    assert other.cloud_service.name not in page
    assert "Start the virtual machine after restore" in page

    response = alice_client.post(url, {
        "item": kvm_item.pk, "step": "3", "mode": "newest", "vm_name": "azbt-new", "cs_mode": "existing",
        "cloud_service": host.cloud_service.name, "storage_account": host.storage_account.name, "start_vm": "on"},
        HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    job = Job.objects.get(operation=Operation.RESTORE)
    assert (job.params["host_id"], job.params["start_vm"], job.params["vm_name"]) == (host.pk, True, "azbt-new")


@pytest.mark.django_db
def test_the_api_starts_a_kvm_restore_and_refuses_start_vm_elsewhere(fake_host, kvm_item, alice, client, api_headers,
                                                                     alpha):
    _point(fake_host, kvm_item, alice)
    host = kvm_item.vm.host
    url = f"/api/v1/protected-items/{kvm_item.pk}/restore"
    response = client.post(url, {"vm_name": "azbt-api", "cloud_service": host.cloud_service.name,
                                 "storage_account": host.storage_account.name, "start_vm": True},
                           content_type="application/json", headers=api_headers(alice))
    assert response.status_code == 202, response.content
    assert Job.objects.get(pk=response.json()["id"]).params["start_vm"] is True
    response = client.post(url, {"storage_account": make_vm(alpha).disks.first().storage_account.name,
                                 "disks_only": True}, content_type="application/json", headers=api_headers(alice))
    assert response.status_code == 400 and "can be restored only to a KVM host" in response.content.decode()


@pytest.mark.django_db
def test_a_machine_whose_host_was_removed_no_longer_exists_for_a_backup(fake_host, kvm_item, alice):
    VirtualMachine.objects.filter(pk=kvm_item.vm_id).update(host=None)
    job, = run_jobs(backups.back_up_now(kvm_item, alice))
    assert (job.status, job.error_code, job.error_message) == (JobStatus.FAILED, "VmNotFound",
                                                                backups.VM_NO_LONGER_EXISTS)


@pytest.mark.django_db
def test_the_cli_restores_a_kvm_point_and_starts_the_domain(fake_host, kvm_item, alice):
    from tests.operators.test_cli import backup_json

    point = _point(fake_host, kvm_item, alice)
    host = kvm_item.vm.host
    job = backup_json("--user", "alice", "restore", "--point", str(point.pk), "--vm-name", "azbt-cli",
                      "--cloud-service", host.cloud_service.name, "--storage-account", host.storage_account.name,
                      "--start")
    assert Job.objects.get(pk=job["id"]).params["start_vm"] is True
