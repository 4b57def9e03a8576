"""Protected machines with real (small) disks, shared by the tests of every app.

Builds the rows the discovery/registration/protection flows would have made: an Active vault with an
initialised store, a storage account, a cloud service, a VM with an OS, a data and a resource disk (real
sparse images holding a few MB), its registration, a policy and the protected item.
"""

import itertools
import random
import shutil
from datetime import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from backup import engine
from backup.fabric import layout
from backup.vaults.models import Vault
from backup.vms.models import (
    BackupPolicy,
    CloudService,
    ProtectedItem,
    RegisteredItem,
    StorageAccount,
    VirtualDisk,
    VirtualMachine,
)

MiB = 1 << 20
_seq = itertools.count(1)


def make_vault(subscription, name: str | None = None) -> Vault:
    vault = Vault.objects.create(subscription=subscription, name=name or f"vault-{next(_seq)}", region="West US",
                                 status=Vault.Status.ACTIVE)
    # Ids come back after a rolled-back test: start from an empty folder, not an earlier test's store.
    shutil.rmtree(vault.store_path, ignore_errors=True)
    engine.Store.init(vault.store_path)
    return vault


def make_policy(vault: Vault, **fields) -> BackupPolicy:
    values = {"name": f"policy-{next(_seq)}", "time_of_day": time(22, 0), "timezone": "UTC",
              "daily_retention_days": 30} | fields
    return BackupPolicy.objects.create(vault=vault, **values)


def make_vm(subscription, *, name: str | None = None, os_mib: float = 3, data_mib: float = 2, seed: int = 1,
            **fields) -> VirtualMachine:
    n = next(_seq)
    account = StorageAccount.objects.create(subscription=subscription, name=f"sa{n}x{random.randrange(10**6)}",
                                            region="West US")
    service = CloudService.objects.create(subscription=subscription, name=f"cs-{n}-{random.randrange(10**6)}",
                                          region="West US")
    vm = VirtualMachine.objects.create(subscription=subscription, cloud_service=service, name=name or f"vm-{n}",
                                       **fields)
    os_disk = VirtualDisk.objects.create(vm=vm, kind="os", storage_account=account, max_size=layout.OS_DISK_MAX)
    data_disk = VirtualDisk.objects.create(vm=vm, kind="data", lun=0, storage_account=account,
                                           max_size=layout.DATA_DISK_MAX)
    resource = VirtualDisk.objects.create(vm=vm, kind="resource", storage_account=account,
                                          max_size=layout.RESOURCE_DISK_MAX)
    shutil.rmtree(account.folder, ignore_errors=True)
    shutil.rmtree(vm.folder, ignore_errors=True)
    layout.create_vm_disks(
        Path(settings.FABRIC_ROOT), account.pk, layout.VmDiskIds(os_disk.pk, (data_disk.pk,), resource.pk),
        random.Random(seed), os_data=int(os_mib * MiB), data_disk_data=int(data_mib * MiB), resource_data=MiB,
    )
    return vm


def protect(vault: Vault, vm: VirtualMachine, policy: BackupPolicy | None = None) -> ProtectedItem:
    registered = RegisteredItem.objects.create(
        vault=vault, vm=vm, vm_name=vm.name, cloud_service_name=vm.cloud_service.name,
        status=RegisteredItem.Status.REGISTERED, registered_at=timezone.now(),
    )
    return ProtectedItem.objects.create(
        vault=vault, registered_item=registered, vm=vm, vm_name=vm.name, cloud_service_name=vm.cloud_service.name,
        policy=policy or make_policy(vault),
    )


def make_protected_item(subscription, vault: Vault | None = None, **vm_fields) -> ProtectedItem:
    vault = vault or make_vault(subscription)
    return protect(vault, make_vm(subscription, **vm_fields))
