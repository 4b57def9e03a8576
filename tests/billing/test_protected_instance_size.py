"""Protected-instance size measured on real sparse disk images (scaled down: MB for GB)."""

import pytest

from backup.billing.services import protected_instance_bytes
from backup.fabric.disks import Disk
from backup.tenancy.models import Subscription
from backup.vms.models import CloudService, StorageAccount, VirtualDisk, VirtualMachine

MB = 1024 * 1024


def _disk(vm, account, kind, lun, max_size, data_mb):
    disk = VirtualDisk.objects.create(vm=vm, kind=kind, lun=lun, storage_account=account, max_size=max_size)
    image = Disk.create(disk.path, max_size)
    chunk = b"\x5a" * MB
    for i in range(data_mb):
        image.write(i * 2 * MB, chunk)  # spread out, so the holes between stay unallocated
    return disk


@pytest.mark.django_db
def test_protected_instance_counts_allocated_data_of_os_and_data_disks_only():
    subscription = Subscription.objects.create(name="Sizes")
    account = StorageAccount.objects.create(subscription=subscription, name="sizesacct", region="West US")
    service = CloudService.objects.create(subscription=subscription, name="sizes-cs", region="West US")
    vm = VirtualMachine.objects.create(subscription=subscription, cloud_service=service, name="a2", size="A2")
    _disk(vm, account, VirtualDisk.Kind.OS, 0, 1023 * MB, 17)
    _disk(vm, account, VirtualDisk.Kind.RESOURCE, 0, 135 * MB, 5)
    _disk(vm, account, VirtualDisk.Kind.DATA, 0, 1023 * MB, 30)
    _disk(vm, account, VirtualDisk.Kind.DATA, 1, 1023 * MB, 0)

    assert protected_instance_bytes(vm) == 47 * MB
