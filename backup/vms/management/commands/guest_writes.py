from django.core.management.base import BaseCommand, CommandError

from backup.vms.models import VirtualMachine
from backup.vms.services import guest


class Command(BaseCommand):
    help = "Write files into running virtual machines' disks, as their applications would."

    def add_arguments(self, parser):
        parser.add_argument("--vm", type=int, help="Only this virtual machine (id).")
        parser.add_argument("--files", type=int, default=3, help="Files per machine (default 3).")

    def handle(self, *args, vm: int | None = None, files: int = 3, **options):
        if files < 1:
            raise CommandError("--files must be at least 1.")
        machine = VirtualMachine.objects.filter(pk=vm).select_related("host").first() if vm is not None else None
        if vm is not None and machine is None:
            raise CommandError(f"No virtual machine with id {vm}.")
        if machine is not None and machine.host is not None:
            raise CommandError(
                f"Virtual machine {vm} is a domain of the KVM host '{machine.host.name}': a real "
                "guest writes to its own disks, the simulated workload does not touch it."
            )
        written = guest.run_guest_workload(vm_id=vm, files=files)
        for name, count in written.items():
            self.stdout.write(f"{name}: {count:,} bytes written")
        if not written:
            self.stdout.write("No running virtual machines.")
