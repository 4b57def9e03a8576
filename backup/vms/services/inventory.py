"""What the VIRTUAL MACHINES, CLOUD SERVICES and STORAGE pages list, for one user."""

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import Http404

from backup.fabric.disks import Disk

from ..models import CloudService, HypervisorHost, ProtectedItem, StorageAccount, VirtualDisk, VirtualMachine


def machines_for(user) -> QuerySet[VirtualMachine]:
    """The user's machines, each with the vault protecting it (if any) as `protected_in`."""
    protecting = (
        ProtectedItem.objects.filter(vm=OuterRef("pk"))
        .exclude(status=ProtectedItem.Status.STOPPED)
        .values("vault__name")[:1]
    )
    return (
        VirtualMachine.objects.for_user(user)
        .select_related("cloud_service", "subscription", "host")
        .annotate(protected_in=Subquery(protecting), disk_count=Count("disks"))
        .prefetch_related("disks")
        .order_by("name", "cloud_service__name")
    )


def machine_for(user, pk) -> VirtualMachine:
    """One of the user's machines (404 otherwise), as machines_for lists it."""
    try:
        return machines_for(user).get(pk=pk)
    except (VirtualMachine.DoesNotExist, ValueError, TypeError):
        raise Http404("No such virtual machine.") from None


def hosts_for(user) -> QuerySet[HypervisorHost]:
    return (
        HypervisorHost.objects.for_user(user)
        .select_related("subscription", "cloud_service", "storage_account")
        .annotate(vm_count=Count("virtual_machines"))
        .order_by("name")
    )


def cloud_services_for(user) -> QuerySet[CloudService]:
    return (
        CloudService.objects.for_user(user)
        .select_related("subscription", "host")
        .annotate(vm_count=Count("virtual_machines"))
        .order_by("name")
    )


def storage_accounts_query(user) -> QuerySet[StorageAccount]:
    return (
        StorageAccount.objects.for_user(user)
        .select_related("subscription", "host")
        .prefetch_related("disks")
        .annotate(disk_count=Count("disks"))
        .order_by("name")
    )


def storage_accounts_for(user) -> list[StorageAccount]:
    """The user's storage accounts with `used_bytes`: the data really allocated in their disk images."""
    return count_used_bytes(list(storage_accounts_query(user)))


def count_used_bytes(accounts: list[StorageAccount]) -> list[StorageAccount]:
    for account in accounts:
        account.used_bytes = sum(_allocated(disk) for disk in account.disks.all())  # type: ignore[attr-defined]
    return accounts


def _allocated(disk: VirtualDisk) -> int:
    if disk.target:  # a KVM disk: its image is on the host, which reported its allocation at the last sync
        return disk.allocation or 0
    try:
        return Disk.actual_size_of(disk.path)
    except OSError:
        return 0
