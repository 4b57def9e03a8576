"""Rows for KVM machines, as registering a host and syncing its domains would make them: a HypervisorHost with its
cloud service and storage account (its pool), and a VirtualMachine of a domain with its qcow2 disks."""

import itertools
import random
from collections.abc import Sequence

from backup.vms.models import CloudService, HypervisorHost, StorageAccount, VirtualDisk, VirtualMachine

_seq = itertools.count(1)


def make_host(subscription, *, uri: str = "qemu:///system", pool: str = "default", name: str | None = None,
              region: str = "West US") -> HypervisorHost:
    n = f"{next(_seq)}x{random.randrange(10**6)}"
    name = name or f"kvm-{n}"
    service = CloudService.objects.create(subscription=subscription, name=name, region=region)
    account = StorageAccount.objects.create(subscription=subscription, name=f"pool{n}".replace("x", "")[:24],
                                            region=region)
    return HypervisorHost.objects.create(subscription=subscription, name=name, uri=uri, region=region,
                                         storage_pool=pool, cloud_service=service, storage_account=account)


def make_kvm_vm(host: HypervisorHost, *, name: str, domain_uuid: str,
                disks: Sequence[tuple[str, str, int]], running: bool = True, **fields) -> VirtualMachine:
    """A domain's machine; `disks` are (target, image path, capacity), the first the OS disk."""
    vm = VirtualMachine.objects.create(
        subscription=host.subscription, cloud_service=host.cloud_service, name=name, host=host,
        domain_uuid=domain_uuid, os_family="linux", os_version="", agent_version="",
        power_state=VirtualMachine.PowerState.RUNNING if running else VirtualMachine.PowerState.STOPPED,
        agent_state=VirtualMachine.AgentState.ABSENT, **fields)
    for index, (target, path, capacity) in enumerate(disks):
        VirtualDisk.objects.create(vm=vm, kind=VirtualDisk.Kind.OS if index == 0 else VirtualDisk.Kind.DATA,
                                   lun=max(index - 1, 0), storage_account=host.storage_account, max_size=capacity,
                                   target=target, source_path=path, disk_format="qcow2", trackable=True)
    return vm
