"""VIRTUAL MACHINES, CLOUD SERVICES and STORAGE: the fabric's inventory, for the caller's subscriptions."""

from ninja import Router, Schema

from ..services import inventory

router = Router(tags=["virtual machines"])


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


@router.get("/vms", response=list[VmOut], operation_id="backup_vms_api_list_vms")
def list_vms(request):
    return [
        {"id": vm.pk, "name": vm.name, "subscription_id": vm.subscription_id, "cloud_service": vm.cloud_service.name,
         "region": vm.cloud_service.region, "deployment_model": vm.deployment_model, "os_family": vm.os_family,
         "os_version": vm.os_version, "power_state": vm.power_state, "size": vm.size,
         "agent_installed": vm.agent_installed, "backup_extension_installed": vm.backup_extension_installed,
         "protected_in": vm.protected_in}
        for vm in inventory.machines_for(request.auth)
    ]


@router.get("/cloud-services", response=list[CloudServiceOut], operation_id="backup_vms_api_list_cloud_services")
def list_cloud_services(request):
    return [
        {"id": s.pk, "name": s.name, "dns_name": s.dns_name, "subscription_id": s.subscription_id,
         "region": s.region, "virtual_network": s.virtual_network, "vm_count": s.vm_count}
        for s in inventory.cloud_services_for(request.auth)
    ]


@router.get("/storage-accounts", response=list[StorageAccountOut],
            operation_id="backup_vms_api_list_storage_accounts")
def list_storage_accounts(request):
    return [
        {"id": a.pk, "name": a.name, "subscription_id": a.subscription_id, "region": a.region, "kind": a.kind,
         "used_bytes": a.used_bytes}
        for a in inventory.storage_accounts_for(request.auth)
    ]
