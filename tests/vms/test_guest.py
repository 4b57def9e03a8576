"""The guest workload: files written into running machines' disks, through the fabric."""

import pytest
from django.core.management import CommandError, call_command

from backup.fabric.disks import Disk
from backup.vms.models import VirtualMachine
from backup.vms.services import guest
from backup.vms.tasks.inventory import guest_writes

from .helpers import make_vm


def change_ids(vm):
    return {d.key: Disk.open(d.path).change_id() for d in vm.disks.all()}


def changed(vm, before) -> int:
    total = 0
    for d in vm.disks.all():
        ranges = Disk.open(d.path).changed_ranges_since(before[d.key]) or []
        total += sum(length for _, length in ranges)
    return total


def test_guest_writes_change_a_running_machines_disks(alpha):
    vm = make_vm(alpha)
    before = change_ids(vm)
    report = guest.write_guest_files(vm, files=4)
    assert len(report.files) == 4
    assert changed(vm, before) >= report.bytes_written > 0
    assert (vm.folder / "guest-writer.lock").exists()


def test_a_stopped_machine_writes_nothing(alpha):
    vm = make_vm(alpha, power_state=VirtualMachine.PowerState.STOPPED)
    before = change_ids(vm)
    assert guest.write_guest_files(vm).bytes_written == 0
    assert changed(vm, before) == 0


def test_the_command_writes_into_one_machine(alpha, capsys):
    vm, other = make_vm(alpha, name="busy"), make_vm(alpha, name="idle")
    before = change_ids(other)
    call_command("guest_writes", "--vm", str(vm.pk), "--files", "2")
    assert "busy" in capsys.readouterr().out
    assert changed(other, before) == 0
    with pytest.raises(CommandError):
        call_command("guest_writes", "--vm", "999999")


def test_the_periodic_task_writes_into_every_running_machine(alpha):
    vm = make_vm(alpha)
    make_vm(alpha, power_state=VirtualMachine.PowerState.STOPPED)
    written = guest_writes.run(files=1)
    assert list(written) == [str(vm)]


def test_the_task_is_scheduled_every_five_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["guest-writes"]
    assert entry == {"task": "backup.vms.tasks.inventory.guest_writes", "schedule": 300.0}
    assert guest_writes.name == entry["task"]
