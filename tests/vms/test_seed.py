"""The demo fleet: every unsupported case is there, disks are real and sparse, and seeding twice changes nothing."""

import pytest

from backup.fabric import limits
from backup.fabric.disks import Disk
from backup.vms import seed
from backup.vms.models import CloudService, StorageAccount, VirtualDisk, VirtualMachine

KiB = 1 << 10


@pytest.fixture
def small_seed(monkeypatch):
    # The fleet's shape with a fraction of its data, so the test stays fast.
    for name in ("OS_DATA", "DATA_DISK_DATA", "RESOURCE_DATA", "SMALL_DATA_DISK_DATA"):
        monkeypatch.setattr(seed, name, 64 * KiB)


def test_seed_fleet_has_every_unsupported_case_and_is_idempotent(small_seed, alpha, beta):
    first = seed.seed_fleet(alpha)
    assert first["virtual_machines"] >= 12 and first["created"] == first["virtual_machines"]
    again = seed.seed_fleet(alpha)
    assert again == {"virtual_machines": first["virtual_machines"], "created": 0, "disk_images": 0}
    seed.seed_fleet(beta)  # names are globally unique: the second subscription gets its own

    vms = list(VirtualMachine.objects.filter(subscription=alpha))
    assert VirtualMachine.objects.filter(subscription=beta).count() == len(vms)
    problems = {p.code for vm in vms for p in limits.registration_problems(vm.spec())}
    expected = {lim.code for lim in (limits.RESOURCE_MANAGER, limits.PREMIUM_STORAGE, limits.TOO_MANY_DATA_DISKS,
                                     limits.MULTIPLE_RESERVED_IPS, limits.RESERVED_IP_NO_ENDPOINT,
                                     limits.MULTIPLE_NICS, limits.LOAD_BALANCED, limits.UNSUPPORTED_OS,
                                     limits.NO_VM_AGENT, limits.VM_NOT_RUNNING)}
    assert expected <= problems
    versions = {vm.os_version for vm in vms}
    assert any("2003" in v for v in versions) and any("2008 SP2" in v for v in versions)
    assert any(vm.domain_controller and vm.multi_dc_domain for vm in vms)
    assert {vm.os_family for vm in vms} == {"windows", "linux"}
    assert any("Ubuntu" in v for v in versions) and any("CentOS" in v for v in versions)
    names = [vm.name for vm in vms]
    assert any(names.count(n) > 1 for n in names)  # same-named machines in different cloud services
    regions = set(CloudService.objects.filter(subscription=alpha).values_list("region", flat=True))
    assert {"West US", "East US", "North Europe"} <= regions
    supported = [vm for vm in vms if not limits.registration_problems(vm.spec())]
    assert len(supported) >= 8


def test_seeded_disks_are_real_sparse_images(small_seed, alpha):
    seed.seed_fleet(alpha)
    disks = list(VirtualDisk.objects.filter(vm__subscription=alpha))
    assert all(d.path.is_file() for d in disks)
    disk = Disk.open(disks[0].path)
    assert disk.size >= 100 << 30 and 0 < disk.allocated_bytes() < 1 << 20
    premium = StorageAccount.objects.get(subscription=alpha, kind=StorageAccount.Kind.PREMIUM_LRS)
    assert premium.disks.exists()


def test_seed_rewrites_a_missing_disk_image(small_seed, alpha):
    seed.seed_fleet(alpha)
    disk = VirtualDisk.objects.filter(vm__subscription=alpha, kind="data").first()
    disk.path.unlink()
    assert seed.seed_fleet(alpha)["disk_images"] == 1
    assert disk.path.is_file()
