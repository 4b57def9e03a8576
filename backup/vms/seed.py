"""The demo fleet: storage accounts, cloud services and virtual machines with real sparse disks.

Every subscription gets the same shape of fleet in three regions, with at least one machine for
each case the product could not back up, so every limitation can be met in the portal. Names of
storage accounts and cloud services are globally unique, so they carry the subscription's id.
Safe to run again: rows are found by name, and a disk image is only created when it is missing.
"""

import random
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from backup.fabric import layout
from backup.fabric.disks import Disk
from backup.fabric.guest import populate_disk

from .models import CloudService, StorageAccount, VirtualDisk, VirtualMachine

MiB = 1 << 20
OS_DATA = 16 * MiB
DATA_DISK_DATA = 5 * MiB
RESOURCE_DATA = 1 * MiB
SMALL_DATA_DISK_DATA = 1 * MiB  # the 17-data-disk machine: many disks, little data each

# Storage accounts: (code, region, kind).
ACCOUNTS = [
    ("wus", "West US", StorageAccount.Kind.STANDARD_LRS),
    ("wusgrs", "West US", StorageAccount.Kind.STANDARD_GRS),
    ("wusprem", "West US", StorageAccount.Kind.PREMIUM_LRS),
    ("eus", "East US", StorageAccount.Kind.STANDARD_LRS),
    ("neu", "North Europe", StorageAccount.Kind.STANDARD_GRS),
]
# Cloud services: (name, region, virtual network).
SERVICES = [
    ("web", "West US", "contoso-vnet-wus"),
    ("app", "West US", "contoso-vnet-wus"),
    ("sql", "West US", "contoso-vnet-wus"),
    ("legacy", "West US", ""),
    ("edge", "West US", "contoso-vnet-wus"),
    ("arm", "West US", ""),
    ("east", "East US", "contoso-vnet-eus"),
    ("europe", "North Europe", "contoso-vnet-neu"),
]


@dataclass(frozen=True)
class Machine:
    name: str
    service: str
    account: str = "wus"
    data_disks: int = 1
    small_data_disks: bool = False
    attrs: dict = field(default_factory=dict)


WIN12R2 = {"os_family": "windows", "os_version": "Windows Server 2012 R2 Datacenter"}
FLEET = [
    # Supported machines.
    Machine("web01", "web", attrs=WIN12R2 | {"size": "A2", "endpoint_count": 2}),
    Machine("web02", "web", "wusgrs", attrs=WIN12R2 | {"size": "A2", "endpoint_count": 2}),
    Machine("web01", "app", attrs=WIN12R2 | {"size": "A1"}),  # same name, another cloud service
    Machine(
        "app01",
        "app",
        data_disks=2,
        attrs={"os_family": "linux", "os_version": "Ubuntu Server 14.04 LTS", "size": "A3", "agent_version": "2.0.14"},
    ),
    Machine(
        "sql01",
        "sql",
        "wusgrs",
        data_disks=2,
        attrs={"os_family": "windows", "os_version": "Windows Server 2012 Datacenter", "size": "A4"},
    ),
    Machine(
        "dc01", "sql", data_disks=0, attrs=WIN12R2 | {"size": "A1", "domain_controller": True, "multi_dc_domain": True}
    ),
    Machine(
        "dc02", "sql", data_disks=0, attrs=WIN12R2 | {"size": "A1", "domain_controller": True, "multi_dc_domain": True}
    ),
    Machine(
        "centos01",
        "east",
        "eus",
        attrs={"os_family": "linux", "os_version": "OpenLogic CentOS 7.1", "size": "A2", "agent_version": "2.0.14"},
    ),
    Machine(
        "suse01",
        "east",
        "eus",
        data_disks=0,
        attrs={
            "os_family": "linux",
            "os_version": "SUSE Linux Enterprise Server 12",
            "size": "A1",
            "agent_version": "2.0.14",
        },
    ),
    Machine("files01", "east", "eus", attrs=WIN12R2 | {"size": "A3"}),
    Machine("euweb01", "europe", "neu", attrs=WIN12R2 | {"size": "A2"}),
    Machine(
        "eudb01",
        "europe",
        "neu",
        attrs={"os_family": "linux", "os_version": "Oracle Linux 7.0", "size": "A3", "agent_version": "2.0.14"},
    ),
    Machine(
        "debian01",
        "europe",
        "neu",
        data_disks=0,
        attrs={
            "os_family": "linux",
            "os_version": "Debian 8 Jessie",
            "size": "A1",
            "agent_version": "2.0.14",
            "power_state": "Deallocated",
        },
    ),
    # One machine per case the product refused.
    Machine("armweb01", "arm", attrs=WIN12R2 | {"deployment_model": "resource_manager", "size": "Standard_A2"}),
    Machine("premium01", "app", "wusprem", attrs=WIN12R2 | {"size": "DS2"}),
    Machine("bigdata01", "sql", data_disks=17, small_data_disks=True, attrs=WIN12R2 | {"size": "A7"}),
    Machine("gateway01", "edge", data_disks=0, attrs=WIN12R2 | {"reserved_ip_count": 2}),
    Machine("gateway02", "edge", data_disks=0, attrs=WIN12R2 | {"reserved_ip_count": 1, "endpoint_count": 0}),
    Machine("router01", "edge", data_disks=0, attrs=WIN12R2 | {"nic_count": 2, "size": "A3"}),
    Machine("lbweb01", "web", data_disks=0, attrs=WIN12R2 | {"load_balanced": True, "endpoint_count": 2}),
    Machine(
        "legacy2003",
        "legacy",
        data_disks=0,
        attrs={"os_family": "windows", "os_version": "Windows Server 2003 R2", "size": "Small"},
    ),
    Machine(
        "legacy2008",
        "legacy",
        data_disks=0,
        attrs={"os_family": "windows", "os_version": "Windows Server 2008 SP2", "size": "Small"},
    ),
    Machine("noagent01", "legacy", data_disks=0, attrs=WIN12R2 | {"agent_installed": False, "agent_version": ""}),
    Machine("stopped01", "legacy", data_disks=0, attrs=WIN12R2 | {"power_state": "Stopped"}),
]


def account_name(subscription, code: str) -> str:
    return f"portalvhds{subscription.pk}{code}"[:24]


def service_name(subscription, name: str) -> str:
    return f"contoso-{name}-{subscription.pk}"


def seed_fleet(subscription, stdout=None) -> dict[str, int]:
    """Create (or complete) the subscription's fleet; returns counts of what was made."""
    started = time.monotonic()
    with transaction.atomic():
        accounts = {
            code: StorageAccount.objects.get_or_create(
                name=account_name(subscription, code),
                defaults={"subscription": subscription, "region": region, "kind": kind},
            )[0]
            for code, region, kind in ACCOUNTS
        }
        services = {
            name: CloudService.objects.get_or_create(
                name=service_name(subscription, name),
                defaults={
                    "subscription": subscription,
                    "region": region,
                    "virtual_network": vnet,
                    "subnets": ["Subnet-1"] if vnet else [],
                },
            )[0]
            for name, region, vnet in SERVICES
        }
        machines = []
        created = 0
        for spec in FLEET:
            vm, made = VirtualMachine.objects.get_or_create(
                cloud_service=services[spec.service],
                name=spec.name,
                defaults={"subscription": subscription, **spec.attrs},
            )
            created += made
            machines.append((vm, spec, _disk_rows(vm, spec, accounts[spec.account])))
    images = sum(_ensure_images(subscription, vm, spec, rows) for vm, spec, rows in machines)
    if stdout is not None:
        stdout.write(
            f"{subscription.name}: {len(machines)} virtual machines ({created} new), {images} disk images "
            f"written in {time.monotonic() - started:.1f}s"
        )
    return {"virtual_machines": len(machines), "created": created, "disk_images": images}


def _disk_rows(vm: VirtualMachine, spec: Machine, account: StorageAccount) -> list[VirtualDisk]:
    wanted = [(VirtualDisk.Kind.OS, 0, layout.OS_DISK_MAX)]
    wanted += [(VirtualDisk.Kind.DATA, lun, layout.DATA_DISK_MAX) for lun in range(spec.data_disks)]
    wanted.append((VirtualDisk.Kind.RESOURCE, 0, layout.RESOURCE_DISK_MAX))
    return [
        VirtualDisk.objects.get_or_create(
            vm=vm, kind=kind, lun=lun, defaults={"storage_account": account, "max_size": size}
        )[0]
        for kind, lun, size in wanted
    ]


def _ensure_images(subscription, vm: VirtualMachine, spec: Machine, rows: list[VirtualDisk]) -> int:
    """Write the disk images that do not exist yet; returns how many were written."""
    rng = random.Random(f"{subscription.pk}:{vm.cloud_service.name}:{vm.name}")
    # Amounts are read at call time, so tests can shrink them.
    data_per_disk = SMALL_DATA_DISK_DATA if spec.small_data_disks else DATA_DISK_DATA
    missing = [row for row in rows if not row.path.exists()]
    if not missing:
        return 0
    if len(missing) == len(rows) and len({row.storage_account_id for row in rows}) == 1:
        data = [row.pk for row in rows if row.kind == VirtualDisk.Kind.DATA]
        resource = next(row.pk for row in rows if row.kind == VirtualDisk.Kind.RESOURCE)
        ids = layout.VmDiskIds(os=rows[0].pk, data=tuple(data), resource=resource)
        layout.create_vm_disks(
            settings.FABRIC_ROOT,
            rows[0].storage_account_id,
            ids,
            rng,
            os_data=OS_DATA,
            data_disk_data=data_per_disk,
            resource_data=RESOURCE_DATA,
        )
        return len(rows)
    amounts = {
        VirtualDisk.Kind.OS: OS_DATA,
        VirtualDisk.Kind.DATA: data_per_disk,
        VirtualDisk.Kind.RESOURCE: RESOURCE_DATA,
    }
    for row in missing:
        populate_disk(Disk.create(row.path, row.max_size), rng, amounts[row.kind])
    return len(missing)
