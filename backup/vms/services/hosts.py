"""KVM hypervisor hosts: adding one, reaching it, and keeping its domains listed as virtual machines.

A host's domains are the subscription's machines in the host's own cloud service; their disks belong to the
host's storage account. Sync makes the rows match what libvirt reports: a domain that vanished is handled as a
simulated machine that was deleted (its row goes, protected items keep their data and fail with "VM no longer
exists"); a host that cannot be reached keeps its machines' rows and says why on the host.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from backup import kvm
from backup.vaults.regions import REGIONS

from ..models import CloudService, HypervisorHost, ProtectedItem, StorageAccount, VirtualDisk, VirtualMachine

# Hosts name their cloud service, so they follow its rules (a DNS label of <name>.cloudapp.net).
HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
NAME_INVALID = (
    "A host name may contain only letters, numbers and hyphens, must start and end with a letter or "
    "number, and can be at most 63 characters long."
)
NAME_TAKEN = "The name '{name}' is already used by a KVM host or a cloud service. Choose another name."
URI_REQUIRED = "Give the host's libvirt connection URI, e.g. qemu:///system or qemu+ssh://root@kvm2/system."
URI_TAKEN = "The libvirt host at {uri} is already added, as '{name}'."
URI_UNREACHABLE = "Could not connect to the host: {error}"
POOL_REQUIRED = "Give the libvirt storage pool that restored disks go to."
POOL_MISSING = "The host has no active storage pool named '{pool}': {error}"
REGION_INVALID = "Choose one of the regions: {regions}."
HOST_UNREACHABLE = "The host could not be reached: {error}"
HOST_PROTECTED = (
    "The host '{name}' cannot be removed while its virtual machines are protected ({names}). "
    "Stop protection of them first."
)


@dataclass
class SyncResult:
    """What one sync of a host changed; `error` says why the host could not be reached (nothing changed then)."""

    host: str
    found: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # domains whose name another machine of the host holds
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def summary(self) -> str:
        text = (
            f"{self.found} domain(s): {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.removed)} removed."
        )
        if self.skipped:
            text += f" Waiting for their name to be free: {', '.join(self.skipped)}."
        return text


def connect(host: HypervisorHost) -> kvm.Host:
    """An open connection to the host (kvm.HostUnavailable when libvirtd cannot be reached). Close it after use."""
    return kvm.Host(host.uri, agent_timeout_s=settings.KVM_AGENT_TIMEOUT_S, work_dir=settings.KVM_WORK_DIR)


# -- Adding and removing --------------------------------------------------------------------------------------
def _field_errors(name: str, uri: str, region: str, pool: str) -> dict[str, str]:
    errors = {}
    if not HOST_NAME.match(name):
        errors["name"] = NAME_INVALID
    elif (
        HypervisorHost.objects.filter(name__iexact=name).exists()
        or CloudService.objects.filter(name__iexact=name).exists()
    ):
        errors["name"] = NAME_TAKEN.format(name=name)
    if not uri:
        errors["uri"] = URI_REQUIRED
    elif (taken := HypervisorHost.objects.filter(uri=uri).first()) is not None:
        # One row per domain: two hosts on one libvirtd would let two vaults break each other's checkpoints.
        errors["uri"] = URI_TAKEN.format(uri=uri, name=taken.name)
    if region not in REGIONS:
        errors["region"] = REGION_INVALID.format(regions=", ".join(REGIONS))
    if not pool:
        errors["storage_pool"] = POOL_REQUIRED
    return errors


def storage_account_name(host_name: str) -> str:
    """A free storage account name for the host: lowercase letters and digits, at most 24 characters."""
    base = "kvm" + re.sub(r"[^a-z0-9]", "", host_name.lower())
    for suffix in itertools.chain([""], (str(n) for n in itertools.count(1))):
        candidate = base[: 24 - len(suffix)] + suffix
        if not StorageAccount.objects.filter(name=candidate).exists():
            return candidate
    raise AssertionError("unreachable")


def add_host(subscription, name: str, uri: str, region: str, pool: str) -> HypervisorHost:
    """Check the host answers and has the pool, create it with its cloud service and storage account, and list
    its domains. Bad input raises ValidationError by field (name, uri, region, storage_pool)."""
    name, uri, pool = (name or "").strip(), (uri or "").strip(), (pool or "").strip()
    errors = _field_errors(name, uri, region, pool)
    if errors:
        raise ValidationError(errors)
    candidate = HypervisorHost(subscription=subscription, name=name, uri=uri, region=region, storage_pool=pool)
    try:
        conn = connect(candidate)
    except kvm.KvmError as error:
        raise ValidationError({"uri": URI_UNREACHABLE.format(error=error)}) from None
    try:
        try:
            conn.pool_path(pool)
        except kvm.PoolNotFound as error:
            raise ValidationError({"storage_pool": POOL_MISSING.format(pool=pool, error=error)}) from None
        except kvm.KvmError as error:
            raise ValidationError({"uri": URI_UNREACHABLE.format(error=error)}) from None
        try:
            with transaction.atomic():
                candidate.cloud_service = CloudService.objects.create(
                    subscription=subscription, name=name, region=region
                )
                candidate.storage_account = StorageAccount.objects.create(
                    subscription=subscription, name=storage_account_name(name), region=region
                )
                candidate.save()
        except IntegrityError:
            raise ValidationError({"name": NAME_TAKEN.format(name=name)}) from None
        sync_host(candidate, conn)
    finally:
        conn.close()
    candidate.refresh_from_db()
    return candidate


def protected_machines(host: HypervisorHost) -> list[str]:
    return sorted(
        ProtectedItem.objects.filter(vm__host=host)
        .exclude(status=ProtectedItem.Status.STOPPED)
        .values_list("vm_name", flat=True)
    )


def remove_host(host: HypervisorHost) -> None:
    """Forget the host and its machines (as deleted machines: their items keep their data). Refused with a
    ValidationError while any of its machines is protected."""
    names = protected_machines(host)
    if names:
        raise ValidationError(HOST_PROTECTED.format(name=host.name, names=", ".join(names)))
    with transaction.atomic():
        VirtualMachine.objects.filter(cloud_service_id=host.cloud_service_id).delete()
        service_id, account_id = host.cloud_service_id, host.storage_account_id
        host.delete()
        CloudService.objects.filter(pk=service_id).delete()
        StorageAccount.objects.filter(pk=account_id, disks__isnull=True).delete()


# -- Sync -------------------------------------------------------------------------------------------------------
def _size(info: kvm.DomainInfo) -> str:
    memory = f"{info.memory_mib} MiB" if info.memory_mib < 100_000 else f"{info.memory_mib // 1024} GiB"
    return f"{info.vcpus} vCPU, {memory}"[:20]


def _agent_state(info: kvm.DomainInfo) -> str:
    if not info.agent_channel:
        return VirtualMachine.AgentState.ABSENT
    return VirtualMachine.AgentState.RESPONDING if info.agent_responds else VirtualMachine.AgentState.NOT_RESPONDING


OS_VERSIONS = {"linux": "Linux", "windows": "Windows"}


def machine_fields(info: kvm.DomainInfo) -> dict:
    """A domain as the VirtualMachine row's fields."""
    return {
        "name": info.name[:64],
        "deployment_model": VirtualMachine.DeploymentModel.CLASSIC,
        "os_family": VirtualMachine.OsFamily.WINDOWS if info.os_type == "windows" else VirtualMachine.OsFamily.LINUX,
        "os_version": OS_VERSIONS.get(info.os_type, "Unknown operating system"),
        "power_state": VirtualMachine.PowerState.RUNNING if info.running else VirtualMachine.PowerState.STOPPED,
        "agent_installed": info.agent_channel,
        "agent_version": "",
        "agent_state": _agent_state(info),
        "size": _size(info),
    }


def disk_fields(info: kvm.DomainInfo) -> dict[str, dict]:
    """The domain's disks as VirtualDisk fields by target: the first is the OS disk, the others data disks."""
    ordered = sorted(info.disks, key=lambda d: d.device_index)
    return {
        disk.target: {
            "kind": VirtualDisk.Kind.OS if position == 0 else VirtualDisk.Kind.DATA,
            "lun": max(position - 1, 0),
            "max_size": disk.capacity,
            "allocation": disk.allocation,
            "disk_format": disk.format,
            "trackable": disk.trackable,
            "source_path": disk.path or "",
        }
        for position, disk in enumerate(ordered)
    }


def _changed(row, values: dict) -> bool:
    return any(getattr(row, key) != value for key, value in values.items())


def _sync_disks(vm: VirtualMachine, info: kvm.DomainInfo, account: StorageAccount) -> bool:
    wanted = disk_fields(info)
    rows = {d.target: d for d in vm.disks.all()}
    # A disk that moved to another slot is made again, so no two rows ever hold one slot.
    stale = [
        row.pk
        for target, row in rows.items()
        if target not in wanted or (row.kind, row.lun) != (wanted[target]["kind"], wanted[target]["lun"])
    ]
    VirtualDisk.objects.filter(pk__in=stale).delete()
    changed = bool(stale)
    for target, values in wanted.items():
        row = rows.get(target)
        if row is None or row.pk in stale:
            VirtualDisk.objects.create(vm=vm, target=target, storage_account=account, **values)
            changed = True
        elif _changed(row, values):
            VirtualDisk.objects.filter(pk=row.pk).update(**values)
            changed = True
    return changed


def _apply(host: HypervisorHost, domains: list[kvm.DomainInfo]) -> SyncResult:
    result = SyncResult(host=host.name, found=len(domains))
    rows = list(VirtualMachine.objects.filter(host=host).prefetch_related("disks"))
    machines = {vm.domain_uuid: vm for vm in rows if vm.domain_uuid}
    # A machine being restored has its row before its domain exists: it is left alone, and adopted by name once
    # its domain appears (the restore records the same uuid when it defines it).
    restoring = {vm.name: vm for vm in rows if not vm.domain_uuid}
    present = {info.uuid for info in domains}
    for uuid, vm in machines.items():
        if uuid not in present:
            result.removed.append(vm.name)
            vm.delete()  # first, so a new domain may take the name
    names = {info.uuid: info.name[:64] for info in domains}
    for uuid, vm in machines.items():
        if uuid in names and vm.name != names[uuid]:
            # Renamed domains let go of their old names first, so two that swapped names do not collide.
            VirtualMachine.objects.filter(pk=vm.pk).update(name=f"~{vm.pk}")
    for info in domains:
        vm = machines.get(info.uuid) or _adopt(restoring.get(info.name[:64]), info)
        try:
            # A name still held by a machine being restored: that domain waits for a later sync, the rest of the
            # host is synced.
            with transaction.atomic():
                if vm is not None:
                    if update_machine(vm, info, host.storage_account):
                        result.updated.append(vm.name)
                    continue
                vm = VirtualMachine.objects.create(
                    subscription_id=host.subscription_id,
                    cloud_service_id=host.cloud_service_id,
                    host=host,
                    domain_uuid=info.uuid,
                    **machine_fields(info),
                )
                _sync_disks(vm, info, host.storage_account)
                result.added.append(vm.name)
        except IntegrityError:
            result.skipped.append(info.name)
            if vm is not None:
                VirtualMachine.objects.filter(pk=vm.pk).update(name=vm.name)  # back from its placeholder
    return result


def _adopt(vm: VirtualMachine | None, info: kvm.DomainInfo) -> VirtualMachine | None:
    if vm is not None:
        VirtualMachine.objects.filter(pk=vm.pk).update(domain_uuid=info.uuid)
        vm.domain_uuid = info.uuid
    return vm


def update_machine(vm: VirtualMachine, info: kvm.DomainInfo, account: StorageAccount) -> bool:
    """Bring one machine's row and disks up to date with its domain; True when anything changed."""
    values = machine_fields(info)
    updated = _changed(vm, values)
    if updated:
        VirtualMachine.objects.filter(pk=vm.pk).update(**values)
        for key, value in values.items():
            setattr(vm, key, value)
    return _sync_disks(vm, info, account) or updated


def _unavailable(host: HypervisorHost, error: Exception) -> SyncResult:
    reason = HOST_UNREACHABLE.format(error=error)
    HypervisorHost.objects.filter(pk=host.pk).update(status=HypervisorHost.Status.UNAVAILABLE, last_error=reason)
    host.status, host.last_error = HypervisorHost.Status.UNAVAILABLE, reason
    return SyncResult(host=host.name, error=reason)


def _list_domains(host: HypervisorHost, conn: kvm.Host | None) -> list[kvm.DomainInfo]:
    if conn is not None:
        return conn.list_domains()
    own = connect(host)
    try:
        return own.list_domains()
    finally:
        own.close()


def sync_host(host: HypervisorHost, conn: kvm.Host | None = None) -> SyncResult:
    """Make the host's machines and disks match its domains (through `conn` when one is open already)."""
    try:
        domains = _list_domains(host, conn)
    except kvm.KvmError as error:
        return _unavailable(host, error)
    now = timezone.now()
    # The host's row is the lock: two syncs of one host (beat, a discovery, an operator) apply one after the other.
    with transaction.atomic():
        locked = HypervisorHost.objects.select_for_update().select_related("storage_account").get(pk=host.pk)
        result = _apply(locked, domains)
        HypervisorHost.objects.filter(pk=host.pk).update(
            status=HypervisorHost.Status.CONNECTED, last_error="", last_synced_at=now
        )
    host.status, host.last_error, host.last_synced_at = HypervisorHost.Status.CONNECTED, "", now
    return result


def sync_hosts(subscription_id: int | None = None, region: str | None = None) -> list[SyncResult]:
    """Sync every host (of a subscription and region, for a vault's discovery)."""
    found = HypervisorHost.objects.all()
    if subscription_id is not None:
        found = found.filter(subscription_id=subscription_id)
    if region is not None:
        found = found.filter(region=region)
    return [sync_host(host) for host in found]
