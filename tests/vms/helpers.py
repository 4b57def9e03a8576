"""Small fabrics for the vms tests: vaults, cloud services and machines with tiny real disks."""

import itertools
import random
import shutil

from django.conf import settings

from backup.fabric import layout
from backup.jobs import runner
from backup.jobs.models import Job
from backup.vaults.models import Vault
from backup.vms.models import CloudService, StorageAccount, VirtualDisk, VirtualMachine

KiB = 1 << 10
_seq = itertools.count(1)


def make_vault(subscription, region: str = "West US", name: str | None = None, **fields) -> Vault:
    fields = {"status": Vault.Status.ACTIVE} | fields
    return Vault.objects.create(subscription=subscription, name=name or f"vault-{next(_seq)}", region=region,
                                **fields)


def make_service(subscription, region: str = "West US", name: str | None = None) -> CloudService:
    return CloudService.objects.create(subscription=subscription, region=region,
                                       name=name or f"cs-t{next(_seq)}-{random.randrange(10**6)}")


def make_vm(subscription, *, region: str = "West US", name: str | None = None, service: CloudService | None = None,
            data_disks: int = 1, storage_kind: str = StorageAccount.Kind.STANDARD_LRS, files: bool = True,
            **fields) -> VirtualMachine:
    """A machine with an OS disk, `data_disks` data disks and a resource disk; with `files`, real sparse
    images holding a few hundred KB each."""
    n = next(_seq)
    service = service or make_service(subscription, region)
    account = StorageAccount.objects.create(subscription=subscription, region=service.region, kind=storage_kind,
                                            name=f"sat{n}x{random.randrange(10**6)}")
    vm = VirtualMachine.objects.create(subscription=subscription, cloud_service=service, name=name or f"vm-{n}",
                                       **fields)
    os_disk = VirtualDisk.objects.create(vm=vm, kind="os", storage_account=account, max_size=layout.OS_DISK_MAX)
    data = [VirtualDisk.objects.create(vm=vm, kind="data", lun=lun, storage_account=account,
                                       max_size=layout.DATA_DISK_MAX).pk for lun in range(data_disks)]
    resource = VirtualDisk.objects.create(vm=vm, kind="resource", storage_account=account,
                                          max_size=layout.RESOURCE_DISK_MAX)
    if files:
        # Ids restart after a rolled-back test: never reuse an earlier test's images.
        shutil.rmtree(account.folder, ignore_errors=True)
        shutil.rmtree(vm.folder, ignore_errors=True)
        layout.create_vm_disks(settings.FABRIC_ROOT, account.pk, layout.VmDiskIds(os_disk.pk, tuple(data), resource.pk),
                               random.Random(n), os_data=512 * KiB, data_disk_data=256 * KiB, resource_data=0)
    return vm


def run_jobs(started) -> list[Job]:
    """Run jobs in this process, as a worker would (their on-commit enqueue never fires in a rolled-back test)."""
    started = started if isinstance(started, list | tuple) else [started]
    for job in started:
        runner.run(job.pk)
        job.refresh_from_db()
    return list(started)
