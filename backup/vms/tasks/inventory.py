"""Celery tasks; each calls one service."""

from celery import shared_task

from ..services import guest, hosts

__all__ = ["guest_writes", "sync_kvm_hosts"]


@shared_task(ignore_result=True)
def guest_writes(files: int = 3) -> dict[str, int]:
    """The periodic guest workload: a few files into every running machine."""
    return guest.run_guest_workload(files=files)


@shared_task(name="backup.vms.tasks.sync_kvm_hosts", ignore_result=True)
def sync_kvm_hosts() -> int:
    """The periodic sync of every KVM host: the number of hosts that could not be reached."""
    return sum(1 for result in hosts.sync_hosts() if not result.ok)
