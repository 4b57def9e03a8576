"""The guest workload: applications inside running machines write files to their disks, so that
backups have real changes to carry. Writes go through the fabric (change-tracked, copy-on-write
aware) under each machine's guest-writer lock, so application-consistent snapshots see whole files."""

import logging
import random

from backup.fabric.disks import Disk, DiskError
from backup.fabric.guest import GuestWriteReport, run_guest_writes

from ..models import VirtualMachine

log = logging.getLogger(__name__)

MAX_FILE = 2 * 1024 * 1024


def write_guest_files(vm: VirtualMachine, files: int = 3, rng: random.Random | None = None) -> GuestWriteReport:
    """Write `files` files into a running machine's disks; a stopped machine, and a KVM domain (a real guest
    writes for itself), write nothing."""
    if vm.power_state != VirtualMachine.PowerState.RUNNING or vm.host_id is not None:
        return GuestWriteReport()
    disks = {}
    for disk in vm.disks.all():
        try:
            disks[disk.key] = Disk.open(disk.path)
        except DiskError:
            log.warning("disk %s of %s has no image file; skipped", disk.key, vm)
    return run_guest_writes(disks, rng or random.Random(), files, vm_dir=vm.folder, max_file=MAX_FILE)


def run_guest_workload(vm_id: int | None = None, files: int = 3) -> dict[str, int]:
    """One round of the workload over every running simulated machine (or one): bytes written per machine."""
    machines = VirtualMachine.objects.filter(host__isnull=True)
    machines = (
        machines.filter(pk=vm_id)
        if vm_id is not None
        else machines.filter(power_state=VirtualMachine.PowerState.RUNNING)
    )
    machines = machines.select_related("cloud_service")
    written = {}
    for vm in machines:
        written[str(vm)] = write_guest_files(vm, files).bytes_written
    return written
