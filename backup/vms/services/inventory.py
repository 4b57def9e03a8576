"""What the VIRTUAL MACHINES, CLOUD SERVICES and STORAGE pages list, for one user."""

from django.db.models import Count, OuterRef, QuerySet, Subquery

from backup.fabric.disks import Disk

from ..models import CloudService, ProtectedItem, StorageAccount, VirtualMachine


def machines_for(user) -> QuerySet[VirtualMachine]:
    """The user's machines, each with the vault protecting it (if any) as `protected_in`."""
    protecting = (ProtectedItem.objects.filter(vm=OuterRef("pk")).exclude(status=ProtectedItem.Status.STOPPED)
                  .values("vault__name")[:1])
    return (VirtualMachine.objects.for_user(user).select_related("cloud_service", "subscription")
            .annotate(protected_in=Subquery(protecting), disk_count=Count("disks"))
            .order_by("name", "cloud_service__name"))


def cloud_services_for(user) -> QuerySet[CloudService]:
    return (CloudService.objects.for_user(user).select_related("subscription")
            .annotate(vm_count=Count("virtual_machines")).order_by("name"))


def storage_accounts_for(user) -> list[StorageAccount]:
    """The user's storage accounts with `used_bytes`: the data really allocated in their disk images."""
    accounts = list(StorageAccount.objects.for_user(user).select_related("subscription").prefetch_related("disks")
                    .annotate(disk_count=Count("disks")).order_by("name"))
    for account in accounts:
        account.used_bytes = sum(_allocated(disk.path) for disk in account.disks.all())
    return accounts


def _allocated(path) -> int:
    try:
        return Disk.actual_size_of(path)
    except OSError:
        return 0
