"""A restore request and its target, checked with the product's messages. The wizard, the API and the CLI
check before starting a job; the Restore job checks again, since the fabric may have changed meanwhile."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from backup.fabric.messages import MULTI_DC_RESTORE, MULTI_DC_RESTORE_ACTION
from backup.vaults.models import Vault

from ...models import CloudService, HypervisorHost, RecoveryPoint, StorageAccount, VirtualMachine
from .. import integrity
from .offers import SUPPORTED_KINDS, is_multi_dc_controller, restore_region, source_vm, virtual_networks_for

# -- The product's messages (its error table and restore notes, verbatim) -------------------------
REPLACE_REFUSED = (
    "replacing an existing virtual machine is not supported; delete it and its disks first, or choose another name"
)
DNS_NAME_TAKEN = "The selected DNS name is already taken - Please specify a different DNS name and try again."
WRONG_REGION = (
    "Backup vault and target storage account are in two different regions - Ensure that the storage account "
    "specified in restore operation is in the same Azure region as the backup vault."
)
UNSUPPORTED_ACCOUNT = (
    "Storage Account specified for the restore operation is not supported - Only Basic/Standard storage accounts "
    "with locally redundant or geo redundant replication settings are supported. Please select a supported "
    "storage account"
)
NO_SUCH_SUBNET = "Selected subnet does not exist - Please select a subnet which exists"
BAD_VNET = (
    "The specified virtual network configuration is not correct - Please specify a different virtual network "
    "configuration and try again."
)
RESERVED_IP_CONFLICT = (
    "The specified cloud service is using a reserved IP, which doesn't match with the configuration of the "
    "virtual machine being restored - Please specify a different cloud service which is not using reserved IP, "
    "or choose another recovery point to restore from."
)
CLOUD_INTERNAL_ERROR = "Restore failed with Cloud Internal error"
SPECIAL_NETWORK_SAME_SERVICE = (
    CLOUD_INTERNAL_ERROR + " - The virtual machine has a special network configuration (load balancer, several "
    "reserved IPs or several NICs) and cannot be restored into its own cloud service from the portal. "
    "Restore it to a new cloud service."
)
MULTI_DC_PORTAL = (
    f"{MULTI_DC_RESTORE} Restoring one domain controller of several from a backup rolls its update sequence "
    "numbers back (USN rollback) and breaks replication. Restore the disks only (API or CLI: disks_only), "
    "then follow the domain controller recovery guidance."
)
KVM_POINT_NEEDS_HOST = (
    "A recovery point of a KVM virtual machine can be restored only to a KVM host - Choose the storage account "
    "that stands for a host's storage pool (and, for a new virtual machine, that host's cloud service)."
)
POINT_NEEDS_FABRIC = (
    "The storage account '{account}' stands for the storage pool of the KVM host '{host}': only recovery points "
    "of KVM virtual machines can be restored there - Choose a storage account that is not a host's."
)
KVM_HOST_SERVICE = (
    "A restored KVM virtual machine runs on the host whose storage pool holds its disks - Choose the cloud "
    "service of the host '{host}'."
)
NOT_A_HOST_SERVICE = (
    "The cloud service '{service}' stands for the KVM host '{host}': only recovery points of KVM virtual machines "
    "can be restored there - Choose another cloud service."
)
START_NEEDS_KVM = "Starting the virtual machine after restore is offered only for a restore to a KVM host."
NO_SECONDARY = "The backup vault '{vault}' keeps one copy (locally redundant): restore from its primary region."
NOT_REPLICATED = (
    "This recovery point is not in the paired region ({region}) yet - Restore it from the primary region, or "
    "choose an older recovery point."
)
WRONG_PAIRED_REGION = (
    "A restore from the secondary copy goes to the paired region ({region}) - Choose a storage account in {region}."
)
VM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,14}$")
DNS_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,61}[A-Za-z0-9]$")


@dataclass
class RestoreTarget:
    """A checked restore request; `cloud_service` is None when a new one named `cloud_service_name` is made."""

    point: RecoveryPoint
    disks_only: bool
    storage_account: StorageAccount
    vm_name: str = ""
    cloud_service: CloudService | None = None
    cloud_service_name: str = ""
    virtual_network: str = ""
    subnet: str = ""
    disk_keys: tuple[str, ...] = ()
    single_disks: bool = False  # disk_keys is a chosen subset
    host: HypervisorHost | None = None  # a KVM point's target host: the storage account's
    start_vm: bool = False  # a KVM machine: start the new domain once it is defined
    from_secondary: bool = False  # read the geo-redundant vault's copy in the paired region, restore there

    @property
    def region(self) -> str:
        return restore_region(self.point.vault, self.from_secondary)

    def params(self) -> dict:
        return {
            "recovery_point_id": self.point.pk,
            "point_id": self.point.point_id,
            "disks_only": self.disks_only,
            "storage_account_id": self.storage_account.pk,
            "storage_account": self.storage_account.name,
            "vm_name": self.vm_name,
            "cloud_service": self.cloud_service_name,
            "create_cloud_service": self.cloud_service is None and not self.disks_only,
            "virtual_network": self.virtual_network,
            "subnet": self.subnet,
            "disk_keys": list(self.disk_keys) if self.single_disks else [],
            "host_id": self.host.pk if self.host else None,
            "start_vm": self.start_vm,
            "from_secondary": self.from_secondary,
        }


def restore_from_secondary(value: str) -> bool:
    """The wizard's, the API's and the CLI's "Restore from" choice: primary (default) or secondary."""
    if value in ("", "primary"):
        return False
    if value == "secondary":
        return True
    raise ValidationError({"restore_from": "Choose primary or secondary."})


def _point_disk_keys(point: RecoveryPoint) -> list[str]:
    return [d["key"] for d in point.disks or [] if d.get("key") != "resource"]


@dataclass
class RestoreRequest:
    """What a restore is asked to make, as the wizard, the API and the CLI send it (unchecked).

    `create_cloud_service` None means "new when no cloud service has that name"; `disk_keys` chooses single
    disks (with `disks_only`), None or empty means all of them."""

    vm_name: str = ""
    cloud_service: str = ""
    create_cloud_service: bool | None = None
    storage_account: str = ""
    virtual_network: str = ""
    subnet: str = ""
    disks_only: bool = False
    disk_keys: list[str] | tuple[str, ...] | None = None
    start_vm: bool = False
    from_secondary: bool = False

    @classmethod
    def from_params(cls, params: dict) -> RestoreRequest:
        """The request a Restore job was started with (RestoreTarget.params)."""
        return cls(
            vm_name=params["vm_name"],
            cloud_service=params["cloud_service"],
            create_cloud_service=params["create_cloud_service"],
            storage_account=params["storage_account"],
            virtual_network=params["virtual_network"],
            subnet=params["subnet"],
            disks_only=params["disks_only"],
            disk_keys=params.get("disk_keys") or None,
            start_vm=bool(params.get("start_vm")),
            from_secondary=bool(params.get("from_secondary")),
        )


SOFT_DELETED = (
    "The backup data of '{name}' is soft deleted - UNDELETE the item on the PROTECTED ITEMS tab, then "
    "restore from its recovery points."
)


def validate_restore(point: RecoveryPoint, request: RestoreRequest | None = None, **fields) -> RestoreTarget:
    """Check a restore request (a RestoreRequest, or its fields as keywords); ValidationError with one message
    per field otherwise."""
    request = request or RestoreRequest(**fields)
    vault = point.vault
    if point.protected_item is not None and point.protected_item.is_soft_deleted:
        raise ValidationError({"point_id": SOFT_DELETED.format(name=point.protected_item.vm_name)})
    if request.from_secondary:
        if not vault.has_secondary:
            raise ValidationError({"restore_from": NO_SECONDARY.format(vault=vault.name)})
        if point.replicated_at is None:
            raise ValidationError({"restore_from": NOT_REPLICATED.format(region=vault.secondary_region)})
    errors: dict[str, str] = {}
    source = source_vm(point)
    if is_multi_dc_controller(source) and not request.disks_only:
        raise ValidationError({"disks_only": f"{MULTI_DC_PORTAL} {MULTI_DC_RESTORE_ACTION}"})
    account = _check_storage_account(
        vault, (request.storage_account or "").strip(), errors, from_secondary=request.from_secondary
    )
    keys = _check_disk_keys(point, request.disk_keys, request.disks_only, errors)
    damaged = [k for k in point.damaged_disks if k in keys] if point.is_damaged else []
    if damaged:
        # Alone and first: no other setting can make this restore work.
        raise ValidationError({"point_id": integrity.damage_message(point, damaged)})
    target = RestoreTarget(
        point=point,
        disks_only=request.disks_only,
        storage_account=account,
        disk_keys=keys,
        single_disks=bool(request.disk_keys),
        from_secondary=request.from_secondary,
    )
    _check_fabric(target, account, errors)
    if request.start_vm:
        if target.host is None or request.disks_only:
            errors.setdefault("start_vm", START_NEEDS_KVM)
        target.start_vm = True
    if not request.disks_only:
        _check_machine(
            target,
            source,
            (request.vm_name or "").strip(),
            (request.cloud_service or "").strip(),
            request.create_cloud_service,
            (request.virtual_network or "").strip(),
            (request.subnet or "").strip(),
            errors,
        )
    if errors:
        raise ValidationError(errors)
    return target


def is_kvm_point(point: RecoveryPoint) -> bool:
    """A point of a KVM domain carries the domain's definition; the simulated fabric's points never do."""
    return bool(point.machine_config)


def host_of_account(account: StorageAccount | None) -> HypervisorHost | None:
    return HypervisorHost.objects.filter(storage_account=account).first() if account is not None else None


def _check_fabric(target: RestoreTarget, account: StorageAccount | None, errors: dict) -> None:
    """A KVM point goes to a host's storage pool, any other point to a storage account of the simulated fabric."""
    if account is None:
        return
    host = host_of_account(account)
    if is_kvm_point(target.point) and host is None:
        errors["storage_account"] = KVM_POINT_NEEDS_HOST
    elif not is_kvm_point(target.point) and host is not None:
        errors["storage_account"] = POINT_NEEDS_FABRIC.format(account=account.name, host=host.name)
    target.host = host


def _check_host_service(target: RestoreTarget, service: CloudService, errors: dict) -> bool:
    """A KVM machine is restored into the cloud service of the host its disks go to; False when refused."""
    service_host = HypervisorHost.objects.filter(cloud_service=service).first()
    if is_kvm_point(target.point):
        if target.host is not None and (service_host is None or service_host.pk != target.host.pk):
            errors["cloud_service"] = KVM_HOST_SERVICE.format(host=target.host.name)
            return False
    elif service_host is not None:
        errors["cloud_service"] = NOT_A_HOST_SERVICE.format(service=service.name, host=service_host.name)
        return False
    return True


STORAGE_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")


def _check_storage_account(vault: Vault, name: str, errors: dict, *, from_secondary: bool) -> StorageAccount | None:
    if not name:
        errors["storage_account"] = "Choose the storage account the restored disks are written to."
        return None
    account = None
    if STORAGE_ACCOUNT_NAME.match(name):
        account = StorageAccount.objects.filter(subscription=vault.subscription, name=name).first()
    if account is None:
        errors["storage_account"] = f"No storage account named '{name}' in the vault's subscription."
    elif account.region != restore_region(vault, from_secondary):
        region = restore_region(vault, from_secondary)
        errors["storage_account"] = WRONG_PAIRED_REGION.format(region=region) if from_secondary else WRONG_REGION
    elif account.kind not in SUPPORTED_KINDS:
        errors["storage_account"] = UNSUPPORTED_ACCOUNT
    else:
        return account
    return None


def _check_disk_keys(point: RecoveryPoint, disk_keys, disks_only: bool, errors: dict) -> tuple[str, ...]:
    available = _point_disk_keys(point)
    if not disk_keys:
        return tuple(available)
    wanted = [str(k) for k in disk_keys]
    unknown = [k for k in wanted if k not in available]
    if not disks_only:
        errors["disk_keys"] = "Single disks can be restored only with disks_only (restore disks only)."
    elif unknown:
        errors["disk_keys"] = (
            f"The recovery point has no disk {', '.join(unknown)}; its disks are {', '.join(available)}."
        )
    return tuple(k for k in available if k in wanted)


def _check_machine(
    target: RestoreTarget,
    source,
    vm_name: str,
    service_name: str,
    create: bool | None,
    vnet: str,
    subnet: str,
    errors: dict,
) -> None:
    vault = target.point.vault
    target.vm_name = vm_name
    if not vm_name:
        errors["vm_name"] = "Enter a name for the restored virtual machine."
    elif not VM_NAME.match(vm_name):
        errors["vm_name"] = (
            "The virtual machine name must be 1 to 15 characters long, start with a letter and "
            "contain only letters, digits and hyphens."
        )
    if not service_name:
        errors["cloud_service"] = "Choose an existing cloud service or enter the name of a new one."
        return
    if not DNS_LABEL.match(service_name):
        # Checked before any lookup: a name that cannot exist need not (and, with a NUL, cannot) be queried.
        errors["cloud_service"] = (
            "A cloud service name (its DNS name) must be 3 to 63 characters long, "
            "start with a letter and contain only letters, digits and hyphens."
        )
        return
    existing = CloudService.objects.filter(name__iexact=service_name).first()
    if create is None:
        create = existing is None
    if create and target.host is not None:
        errors["cloud_service"] = KVM_HOST_SERVICE.format(host=target.host.name)
        return
    if create:
        if existing is not None:
            errors["cloud_service"] = DNS_NAME_TAKEN
        target.cloud_service_name = service_name.lower()
        _check_new_network(vault, vnet, subnet, target, errors)
        return
    if existing is None or existing.subscription_id != vault.subscription_id:
        errors["cloud_service"] = f"No cloud service named '{service_name}' in the vault's subscription."
        return
    target.cloud_service, target.cloud_service_name = existing, existing.name
    if not _check_host_service(target, existing, errors):
        return
    if existing.region != target.region:
        where = "the paired region" if target.from_secondary else "the vault's region"
        errors["cloud_service"] = (
            f"The cloud service '{existing.name}' is in {existing.region}; a virtual machine "
            f"can be restored only to a cloud service in {where} ({target.region})."
        )
    elif existing.reserved_ip:
        errors["cloud_service"] = RESERVED_IP_CONFLICT
    elif source is not None and source.cloud_service_id == existing.pk and _special_network(source):
        errors["cloud_service"] = SPECIAL_NETWORK_SAME_SERVICE
    elif vm_name and existing.virtual_machines.filter(name__iexact=vm_name).exists():
        errors["vm_name"] = REPLACE_REFUSED
    _check_bound_network(existing, vnet, subnet, target, errors)


def _special_network(vm: VirtualMachine) -> bool:
    return vm.load_balanced or vm.reserved_ip_count > 1 or vm.nic_count > 1


def _check_bound_network(service: CloudService, vnet: str, subnet: str, target: RestoreTarget, errors: dict) -> None:
    """A cloud service bound to a virtual network fixes it; the subnet defaults to its first."""
    if not service.virtual_network:
        if vnet:
            errors["virtual_network"] = BAD_VNET
        return
    if vnet and vnet != service.virtual_network:
        errors["virtual_network"] = BAD_VNET
        return
    subnets = service.subnets or []
    if subnet and subnet not in subnets:
        errors["subnet"] = NO_SUCH_SUBNET
        return
    target.virtual_network, target.subnet = service.virtual_network, subnet or (subnets[0] if subnets else "")


def _check_new_network(vault: Vault, vnet: str, subnet: str, target: RestoreTarget, errors: dict) -> None:
    if not vnet:
        if subnet:
            errors["subnet"] = NO_SUCH_SUBNET
        return
    networks = virtual_networks_for(vault, from_secondary=target.from_secondary)
    if vnet not in networks:
        errors["virtual_network"] = BAD_VNET
        return
    if subnet and subnet not in networks[vnet]:
        errors["subnet"] = NO_SUCH_SUBNET
        return
    target.virtual_network, target.subnet = vnet, subnet or (networks[vnet][0] if networks[vnet] else "")
