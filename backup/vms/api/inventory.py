"""VIRTUAL MACHINES, CLOUD SERVICES and STORAGE: the fabric's inventory, for the caller's subscriptions."""

from datetime import datetime

from ninja import Router, Schema

from ..models import HypervisorHost, VirtualDisk, VirtualMachine
from ..services import inventory

router = Router(tags=["virtual machines"])


class DiskOut(Schema):
    key: str
    kind: str
    lun: int
    max_size: int
    # KVM disks only (None or empty for the simulated fabric's): as the host reported them at the last sync.
    format: str
    allocation: int | None
    trackable: bool
    source_path: str


class VmOut(Schema):
    id: int
    name: str
    subscription_id: int
    cloud_service: str
    region: str
    deployment_model: str
    os_family: str
    os_version: str
    power_state: str
    size: str
    agent_installed: bool
    backup_extension_installed: bool
    protected_in: str | None
    host: str | None  # the KVM host the machine is a domain of; None for a simulated machine
    domain_uuid: str
    agent_state: str  # KVM: responding | not_responding | absent
    disks: list[DiskOut]


class HostOut(Schema):
    id: int
    name: str
    subscription_id: int
    uri: str
    region: str
    storage_pool: str
    cloud_service: str
    storage_account: str
    status: str
    last_error: str
    last_synced_at: datetime | None
    vm_count: int


class CloudServiceOut(Schema):
    id: int
    name: str
    dns_name: str
    subscription_id: int
    region: str
    virtual_network: str
    vm_count: int


class StorageAccountOut(Schema):
    id: int
    name: str
    subscription_id: int
    region: str
    kind: str
    used_bytes: int


def disk_out(disk: VirtualDisk) -> dict:
    return {
        "key": disk.key,
        "kind": disk.kind,
        "lun": disk.lun,
        "max_size": disk.max_size,
        "format": disk.disk_format,
        "allocation": disk.allocation,
        "trackable": disk.trackable,
        "source_path": disk.source_path,
    }


def vm_out(vm: VirtualMachine) -> dict:
    return {
        "id": vm.pk,
        "name": vm.name,
        "subscription_id": vm.subscription_id,
        "cloud_service": vm.cloud_service.name,
        "region": vm.cloud_service.region,
        "deployment_model": vm.deployment_model,
        "os_family": vm.os_family,
        "os_version": vm.os_version,
        "power_state": vm.power_state,
        "size": vm.size,
        "agent_installed": vm.agent_installed,
        "backup_extension_installed": vm.backup_extension_installed,
        "protected_in": vm.protected_in,
        "host": vm.host.name if vm.host else None,
        "domain_uuid": vm.domain_uuid,
        "agent_state": vm.agent_state,
        "disks": [disk_out(d) for d in vm.disks.all()],
    }


def host_out(host: HypervisorHost) -> dict:
    return {
        "id": host.pk,
        "name": host.name,
        "subscription_id": host.subscription_id,
        "uri": host.uri,
        "region": host.region,
        "storage_pool": host.storage_pool,
        "cloud_service": host.cloud_service.name,
        "storage_account": host.storage_account.name,
        "status": host.status,
        "last_error": host.last_error,
        "last_synced_at": host.last_synced_at,
        "vm_count": host.vm_count,
    }


@router.get("/vms", response=list[VmOut], operation_id="backup_vms_api_list_vms")
def list_vms(request):
    return [vm_out(vm) for vm in inventory.machines_for(request.auth)]


@router.get("/vms/{vm_id}", response=VmOut, operation_id="backup_vms_api_get_vm")
def get_vm(request, vm_id: int):
    return vm_out(inventory.machine_for(request.auth, vm_id))


@router.get("/hosts", response=list[HostOut], operation_id="backup_vms_api_list_hosts")
def list_hosts(request):
    """The KVM hosts of the caller's subscriptions; their domains are listed under /vms."""
    return [host_out(h) for h in inventory.hosts_for(request.auth)]


@router.get("/cloud-services", response=list[CloudServiceOut], operation_id="backup_vms_api_list_cloud_services")
def list_cloud_services(request):
    return [
        {
            "id": s.pk,
            "name": s.name,
            "dns_name": s.dns_name,
            "subscription_id": s.subscription_id,
            "region": s.region,
            "virtual_network": s.virtual_network,
            "vm_count": s.vm_count,
        }
        for s in inventory.cloud_services_for(request.auth)
    ]


@router.get("/storage-accounts", response=list[StorageAccountOut], operation_id="backup_vms_api_list_storage_accounts")
def list_storage_accounts(request):
    return [
        {
            "id": a.pk,
            "name": a.name,
            "subscription_id": a.subscription_id,
            "region": a.region,
            "kind": a.kind,
            "used_bytes": a.used_bytes,
        }
        for a in inventory.storage_accounts_for(request.auth)
    ]
