"""Machines, registration limitations, the backup extension, and the layout."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from backup.fabric import limits, messages
from backup.fabric.agents import ExtensionInstallError, install_backup_extension, remove_backup_extension
from backup.fabric.guest import guest_writer_lock, run_guest_writes
from backup.fabric.layout import (
    DATA_DISK_MAX,
    OS_DISK_MAX,
    VmDiskIds,
    backed_up_disks,
    create_vm_disks,
    disk_path,
    open_vm_disks,
    vm_dir,
)
from backup.fabric.machines import MachineSpec, consistency_for
from backup.fabric.snapshots import take_snapshot

CLEAN = MachineSpec(name="web01", cloud_service="contoso-web", region="West Europe")


def with_(**changes: object) -> MachineSpec:
    return dataclasses.replace(CLEAN, **changes)


def test_clean_windows_2012_r2_vm_has_no_problems() -> None:
    assert CLEAN.os_version == "Windows Server 2012 R2" and CLEAN.power_state == "Running"
    assert limits.registration_problems(CLEAN) == []
    assert limits.first_problem(CLEAN) is None
    info = install_backup_extension(CLEAN)
    assert info.name == "VMSnapshot" and info.publisher == "Microsoft.Azure.RecoveryServices"
    remove_backup_extension(CLEAN)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"deployment_model": "resource_manager"}, limits.RESOURCE_MANAGER),
        ({"storage_type": "Premium_LRS"}, limits.PREMIUM_STORAGE),
        ({"data_disk_count": 17}, limits.TOO_MANY_DATA_DISKS),
        ({"reserved_ip_count": 2}, limits.MULTIPLE_RESERVED_IPS),
        ({"reserved_ip_count": 1, "endpoint_count": 0}, limits.RESERVED_IP_NO_ENDPOINT),
        ({"nic_count": 2}, limits.MULTIPLE_NICS),
        ({"load_balanced": True}, limits.LOAD_BALANCED),
        ({"os_version": "Windows Server 2003"}, limits.UNSUPPORTED_OS),
        ({"os_version": "Windows Server 2008"}, limits.UNSUPPORTED_OS),
        ({"agent_installed": False, "agent_version": None}, limits.NO_VM_AGENT),
        ({"power_state": "Stopped"}, limits.VM_NOT_RUNNING),
        ({"power_state": "Deallocated"}, limits.VM_NOT_RUNNING),
    ],
)
def test_each_limitation_is_detected(changes: dict, expected: limits.Limitation) -> None:
    spec = with_(**changes)
    assert limits.registration_problems(spec) == [expected]
    assert limits.first_problem(spec) == expected
    assert expected.recommended_action.endswith(".")
    if expected.code in limits.EXTENSION_INSTALL_CODES:
        with pytest.raises(ExtensionInstallError) as err:
            install_backup_extension(spec)
        assert err.value.limitation == expected
    else:
        install_backup_extension(spec)  # configuration problems are not the installer's


def test_exact_product_messages() -> None:
    assert limits.PREMIUM_STORAGE.message == (
        "Virtual machines having virtual hard disks stored on Premium storage are not supported for backup"
    )
    assert limits.TOO_MANY_DATA_DISKS.message.endswith(
        "Azure backup supports up to 16 data disks attached to an Azure virtual machine for backup"
    )
    assert "VM Agent is a pre-requisite for Azure Recovery Services Extension." in messages.NO_VM_AGENT
    assert limits.UNSUPPORTED_OS.message == "Registration failed with Install Agent operation timeout"
    assert limits.UNSUPPORTED_OS.recommended_action == (
        "Check that the operating system is supported: Windows Server 2008 R2 or later."
    )


def test_boundaries_and_several_problems() -> None:
    assert limits.registration_problems(with_(data_disk_count=16)) == []
    assert limits.registration_problems(with_(reserved_ip_count=1, endpoint_count=1)) == []
    for ok in ("Windows Server 2008 R2", "Windows Server 2012", "Windows Server Technical Preview"):
        assert limits.windows_supported(ok)
    linux = with_(os_family="linux", os_version="Ubuntu 14.04")
    assert limits.registration_problems(linux) == []
    assert install_backup_extension(linux).name == "VMSnapshotLinux"
    many = with_(storage_type="Premium_LRS", nic_count=3, power_state="Stopped")
    assert limits.registration_problems(many) == [limits.PREMIUM_STORAGE, limits.MULTIPLE_NICS, limits.VM_NOT_RUNNING]
    assert limits.first_problem(many) == limits.PREMIUM_STORAGE
    assert limits.restore_problems(with_(domain_controller=True, multi_dc_domain=True)) == [limits.MULTI_DC_RESTORE]
    with pytest.raises(ValueError):
        with_(power_state="running")


def test_consistency_for() -> None:
    assert consistency_for(CLEAN) == "application"
    assert consistency_for(with_(os_family="linux", os_version="CentOS 7.1")) == "file"
    assert consistency_for(with_(power_state="Deallocated")) == "crash"


def test_layout_uses_ids_only(tmp_path: Path) -> None:
    assert disk_path(tmp_path, 3, 14) == tmp_path / "sa-3" / "disk-14.vhd"
    assert vm_dir(tmp_path, 9) == tmp_path / "vms" / "vm-9"
    for bad in ("../x", -1, True, 1.5):
        with pytest.raises(ValueError):
            disk_path(tmp_path, bad, 1)  # type: ignore[arg-type]


def test_vm_disks_guest_writes_and_app_snapshot(tmp_path: Path) -> None:
    ids = VmDiskIds(os=1, data=(2, 3), resource=4)
    disks = create_vm_disks(tmp_path, 7, ids, random.Random(3))
    assert set(disks) == {"os", "data-0", "data-1", "resource"}
    assert disks["os"].size == OS_DISK_MAX and disks["data-0"].size == DATA_DISK_MAX
    assert 20 << 20 < disks["os"].allocated_bytes() < 30 << 20
    assert set(open_vm_disks(tmp_path, 7, ids)) == set(disks)
    protected = backed_up_disks(disks)
    assert "resource" not in protected
    vm = vm_dir(tmp_path, 1)
    snap = take_snapshot(protected, "application", quiesce=lambda: guest_writer_lock(vm))
    before = {sd.key: sd.read(0, 8 << 20) for sd in snap.disks}
    report = run_guest_writes(protected, random.Random(5), files=6, vm_dir=vm)
    assert len(report.files) == 6 and report.bytes_written > 0
    assert {f.kind for f in report.files} <= {"text", "binary"}
    for f in report.files:  # each file landed where reported, inside the used area
        assert disks[f.disk_key].read(f.offset, 16) != bytes(16) or f.length < 16
    for sd in snap.disks:  # the snapshot is unaffected
        assert sd.read(0, 8 << 20) == before[sd.key]
        changed = disks[sd.key].changed_ranges_since(sd.change_id)
        for off, length in report.ranges(sd.key):
            assert any(o <= off and off + length <= o + n for o, n in changed)
    snap.delete()
