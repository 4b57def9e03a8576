"""Restore: rebuild a recovery point's disks into a storage account, as a new virtual machine or as disks only.

The RESTORE wizard (and the API and CLI) validate the target first, with the product's messages; the
Restore job validates again (the fabric may have changed meanwhile), then runs three sub-tasks:

    Prepare target        the cloud service (when new), the VM row (Stopped (Deallocated)) and its disk rows
    Restore disks         engine.restore_point into the new disks' image files, with progress; cancellable
    Create virtual machine  an empty resource disk, change tracking, and the VM turns Running

A restored machine is a new machine: unprotected, with no backup extension, and without the special
network configuration (load balancer, several reserved IPs, several NICs) of the source. A failure or a
cancel removes every file and row the job made. "Restore disks only" (the way to bring back a domain
controller of a multi-DC domain) writes the disks under `<storage account>/restore-<job id>/` and
creates no machine; the job's result lists them.

The job is locked on the target's name (`restore-target:<cloud service>:<vm name>`): two restores can
never create the same machine, and a restore never blocks the source machine's backups.
"""

from __future__ import annotations

import calendar
import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from backup import engine
from backup.fabric import layout
from backup.fabric.disks import Disk
from backup.fabric.messages import MULTI_DC_RESTORE, MULTI_DC_RESTORE_ACTION
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobCancelled, JobFailed, describe
from backup.jobs.models import Job, JobStatus, Operation
from backup.notifications.models import Notification
from backup.notifications.services import notify
from backup.vaults.models import Vault

from ..models import CloudService, ProtectedItem, RecoveryPoint, StorageAccount, VirtualDisk, VirtualMachine
from . import integrity
from .stores import open_vault_store

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
POINT_GONE = "The recovery point no longer exists in the backup vault."
POINT_GONE_ACTION = "Choose another recovery point and start the restore again."
DAMAGED = "The backup data of the recovery point could not be read: {error}"
DAMAGED_ACTION = "Choose another recovery point, and run Verify on the vault."

SUPPORTED_KINDS = (StorageAccount.Kind.STANDARD_LRS, StorageAccount.Kind.STANDARD_GRS)
VM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,14}$")
DNS_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,61}[A-Za-z0-9]$")

STEP_PREPARE = "Prepare target"
STEP_DISKS = "Restore disks"
STEP_VM = "Create virtual machine"
STEP_REGISTER_DISKS = "Record restored disks"


# -- What the wizard offers ------------------------------------------------------------------------
def source_vm(point: RecoveryPoint) -> VirtualMachine | None:
    """The machine the point was taken of, when the fabric still has it."""
    item = point.protected_item or getattr(point.registered_item, "protected_item", None)
    vm = item.vm if item is not None else None
    if vm is None and point.registered_item is not None:
        vm = point.registered_item.vm
    return vm


def is_multi_dc_controller(vm: VirtualMachine | None) -> bool:
    return vm is not None and vm.domain_controller and vm.multi_dc_domain


def storage_accounts_for(vault: Vault):
    """Accounts a restore may write to: the vault's subscription and region, Standard LRS or GRS."""
    return StorageAccount.objects.filter(subscription=vault.subscription, region=vault.region,
                                         kind__in=SUPPORTED_KINDS).order_by("name")


def cloud_services_for(vault: Vault):
    """Existing cloud services a restore may deploy into: same subscription and region, no reserved IP."""
    return CloudService.objects.filter(subscription=vault.subscription, region=vault.region,
                                       reserved_ip=False).order_by("name")


def virtual_networks_for(vault: Vault) -> dict[str, list[str]]:
    """The virtual networks of the vault's region (known from the cloud services bound to them) and their subnets."""
    networks: dict[str, list[str]] = {}
    services = CloudService.objects.filter(subscription=vault.subscription, region=vault.region).exclude(
        virtual_network="").order_by("virtual_network", "name")
    for service in services:
        subnets = networks.setdefault(service.virtual_network, [])
        subnets.extend(s for s in service.subnets or [] if s not in subnets)
    return networks


def points_of(item: ProtectedItem):
    return item.recovery_points.order_by("-created_at", "-id")


@dataclass(frozen=True)
class CalendarDay:
    day: date
    in_month: bool
    points: int
    selected: bool


@dataclass(frozen=True)
class CalendarMonth:
    year: int
    month: int
    title: str
    weeks: list[list[CalendarDay]]
    previous: date | None  # first day of the previous month, when it has points
    next: date | None


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def calendar_month(item: ProtectedItem, year: int, month: int, selected: date | None = None) -> CalendarMonth:
    """The date picker's month: Sunday-first weeks; a day with points is shaded and can be clicked."""
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    start = timezone.make_aware(datetime.combine(first - timedelta(days=7), datetime.min.time()))
    end = timezone.make_aware(datetime.combine(last + timedelta(days=8), datetime.min.time()))
    counts: dict[date, int] = {}
    for moment in points_of(item).filter(created_at__gte=start, created_at__lt=end).values_list("created_at",
                                                                                                    flat=True):
        day = _local_day(moment)
        counts[day] = counts.get(day, 0) + 1
    weeks = [[CalendarDay(d, d.month == month, counts.get(d, 0) if d.month == month else 0, d == selected)
              for d in week] for week in calendar.Calendar(firstweekday=6).monthdatescalendar(year, month)]
    oldest = points_of(item).last()
    newest = points_of(item).first()
    previous = _month_start(first - timedelta(days=1))
    following = _month_start(last + timedelta(days=1))
    return CalendarMonth(
        year, month, first.strftime("%B %Y"), weeks,
        previous if oldest is not None and _month_start(_local_day(oldest.created_at)) <= previous else None,
        following if newest is not None and _month_start(_local_day(newest.created_at)) >= following else None,
    )


def points_on(item: ProtectedItem, day: date) -> list[RecoveryPoint]:
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    return list(points_of(item).filter(created_at__gte=start, created_at__lt=start + timedelta(days=1)))


# -- Validation -------------------------------------------------------------------------------------
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

    def params(self) -> dict:
        return {
            "recovery_point_id": self.point.pk, "point_id": self.point.point_id, "disks_only": self.disks_only,
            "storage_account_id": self.storage_account.pk, "storage_account": self.storage_account.name,
            "vm_name": self.vm_name, "cloud_service": self.cloud_service_name,
            "create_cloud_service": self.cloud_service is None and not self.disks_only,
            "virtual_network": self.virtual_network, "subnet": self.subnet,
            "disk_keys": list(self.disk_keys) if self.single_disks else [],
        }


def _point_disk_keys(point: RecoveryPoint) -> list[str]:
    return [d["key"] for d in point.disks or [] if d.get("key") != "resource"]


def validate_restore(point: RecoveryPoint, *, vm_name: str = "", cloud_service: str = "",
                     create_cloud_service: bool | None = None, storage_account: str = "",
                     virtual_network: str = "", subnet: str = "", disks_only: bool = False,
                     disk_keys=None) -> RestoreTarget:
    """Check a restore request; ValidationError with one message per field otherwise."""
    vault = point.vault
    errors: dict[str, str] = {}
    source = source_vm(point)
    if is_multi_dc_controller(source) and not disks_only:
        raise ValidationError({"disks_only": f"{MULTI_DC_PORTAL} {MULTI_DC_RESTORE_ACTION}"})
    account = _check_storage_account(vault, (storage_account or "").strip(), errors)
    keys = _check_disk_keys(point, disk_keys, disks_only, errors)
    damaged = [k for k in point.damaged_disks if k in keys] if point.is_damaged else []
    if damaged:
        # Alone and first: no other setting can make this restore work.
        raise ValidationError({"point_id": integrity.damage_message(point, damaged)})
    target = RestoreTarget(point=point, disks_only=disks_only, storage_account=account, disk_keys=keys,
                           single_disks=bool(disk_keys))
    if not disks_only:
        _check_machine(target, source, (vm_name or "").strip(), (cloud_service or "").strip(), create_cloud_service,
                       (virtual_network or "").strip(), (subnet or "").strip(), errors)
    if errors:
        raise ValidationError(errors)
    return target


STORAGE_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")


def _check_storage_account(vault: Vault, name: str, errors: dict) -> StorageAccount | None:
    if not name:
        errors["storage_account"] = "Choose the storage account the restored disks are written to."
        return None
    account = None
    if STORAGE_ACCOUNT_NAME.match(name):
        account = StorageAccount.objects.filter(subscription=vault.subscription, name=name).first()
    if account is None:
        errors["storage_account"] = f"No storage account named '{name}' in the vault's subscription."
    elif account.region != vault.region:
        errors["storage_account"] = WRONG_REGION
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
        errors["disk_keys"] = (f"The recovery point has no disk {', '.join(unknown)}; its disks are "
                               f"{', '.join(available)}.")
    return tuple(k for k in available if k in wanted)


def _check_machine(target: RestoreTarget, source, vm_name: str, service_name: str, create: bool | None,
                   vnet: str, subnet: str, errors: dict) -> None:
    vault = target.point.vault
    target.vm_name = vm_name
    if not vm_name:
        errors["vm_name"] = "Enter a name for the restored virtual machine."
    elif not VM_NAME.match(vm_name):
        errors["vm_name"] = ("The virtual machine name must be 1 to 15 characters long, start with a letter and "
                             "contain only letters, digits and hyphens.")
    if not service_name:
        errors["cloud_service"] = "Choose an existing cloud service or enter the name of a new one."
        return
    if not DNS_LABEL.match(service_name):
        # Checked before any lookup: a name that cannot exist need not (and, with a NUL, cannot) be queried.
        errors["cloud_service"] = ("A cloud service name (its DNS name) must be 3 to 63 characters long, "
                                   "start with a letter and contain only letters, digits and hyphens.")
        return
    existing = CloudService.objects.filter(name__iexact=service_name).first()
    if create is None:
        create = existing is None
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
    if existing.region != vault.region:
        errors["cloud_service"] = (f"The cloud service '{existing.name}' is in {existing.region}; a virtual machine "
                                   f"can be restored only to a cloud service in the vault's region ({vault.region}).")
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
    networks = virtual_networks_for(vault)
    if vnet not in networks:
        errors["virtual_network"] = BAD_VNET
        return
    if subnet and subnet not in networks[vnet]:
        errors["subnet"] = NO_SUCH_SUBNET
        return
    target.virtual_network, target.subnet = vnet, subnet or (networks[vnet][0] if networks[vnet] else "")


# -- Starting the job -------------------------------------------------------------------------------
def lock_key(target: RestoreTarget) -> str | None:
    if target.disks_only:
        return None
    return f"restore-target:{target.cloud_service_name.lower()}:{target.vm_name.lower()}"


def start_restore(point: RecoveryPoint, *, user=None, vm_name: str = "", cloud_service: str = "",
                  create_cloud_service: bool | None = None, storage_account: str = "", virtual_network: str = "",
                  subnet: str = "", disks_only: bool = False, disk_keys=None) -> Job:
    """Check the request and queue a Restore job; the user gets a "Restore job created" toast."""
    target = validate_restore(point, vm_name=vm_name, cloud_service=cloud_service,
                              create_cloud_service=create_cloud_service, storage_account=storage_account,
                              virtual_network=virtual_network, subnet=subnet, disks_only=disks_only,
                              disk_keys=disk_keys)
    vault = point.vault
    with transaction.atomic():
        job = jobs.start(
            subscription=vault.subscription, operation=Operation.RESTORE, item_name=point.vm_name, item_type="vm",
            item_id=point.protected_item.vm_id if point.protected_item else None, vault_id=vault.pk,
            lock_key=lock_key(target), params=target.params(), user=user,
            busy_message=("Command execution failed - Another restore to this virtual machine name and cloud "
                          "service is in progress. Please wait until it has completed, or choose another name."),
        )
        if job.status == JobStatus.IN_PROGRESS and user is not None and user.is_authenticated:
            notify(user, "Restore job created", message=f"Restoring '{point.vm_name}' from the recovery point of "
                   f"{timezone.localtime(point.created_at):%m/%d/%Y %I:%M %p}.", level=Notification.Level.PROGRESS,
                   key=f"job-{job.pk}", subscription=vault.subscription,
                   link_url=reverse("job-detail", args=[job.pk]), link_label="VIEW JOB")
    return job


# -- The Restore job --------------------------------------------------------------------------------
@dataclass
class Made:
    """What a restore created so far, so a failure can remove it.

    It is also written to the job's row as soon as something exists, because a worker killed mid-restore runs
    no clean-up of its own: the reaper (`clean_up_lost_restore`) or the redelivered attempt does it instead.
    """

    files: list[Path]
    folder: Path | None = None
    vm_id: int | None = None
    cloud_service_id: int | None = None

    def record(self, job: Job) -> None:
        # The folder relative to the fabric's root: a job's result never shows where the server keeps files.
        folder = str(self.folder.relative_to(settings.FABRIC_ROOT)) if self.folder else None
        job.result["made"] = {"folder": folder, "vm_id": self.vm_id, "cloud_service_id": self.cloud_service_id}
        Job.objects.filter(pk=job.pk).update(result=job.result)

    @classmethod
    def recorded(cls, job: Job) -> Made | None:
        made = (job.result or {}).get("made")
        if not made:
            return None
        return cls(files=[], folder=Path(settings.FABRIC_ROOT) / made["folder"] if made["folder"] else None,
                   vm_id=made["vm_id"],
                   cloud_service_id=made["cloud_service_id"])


def run_restore(ctx: JobContext) -> None:
    """The Restore job's work (see the module docstring)."""
    params = ctx.job.params
    earlier = Made.recorded(ctx.job)
    if earlier is not None:
        _clean_up(earlier)  # a redelivered job: the killed attempt's half-made VM goes first
    made = Made(files=[])
    try:
        with ctx.step(STEP_PREPARE):
            point, store, targets = _prepare(ctx.job, params, made)
        with ctx.step(STEP_DISKS):
            _restore_disks(ctx, store, point, targets)
        if params["disks_only"]:
            with ctx.step(STEP_REGISTER_DISKS):
                ctx.set_result(**_disks_result(params, targets))
        else:
            with ctx.step(STEP_VM):
                vm = _finish_vm(made.vm_id)
                ctx.set_result(**{"Virtual machine": vm.name, "Cloud service": vm.cloud_service.name,
                                  "Target Storage Account Name": params["storage_account"],
                                  "Virtual network": params["virtual_network"] or "-",
                                  "Subnet": params["subnet"] or "-", "restored_vm_id": vm.pk})
    except BaseException:
        _clean_up(made)
        raise
    ctx.job.result.pop("made", None)
    Job.objects.filter(pk=ctx.job.pk).update(result=ctx.job.result)


def clean_up_lost_restore(job: Job) -> None:
    """The reaper failed this restore after its worker died: remove what it had made."""
    made = Made.recorded(job)
    if made is not None:
        _clean_up(made)


def _prepare(job: Job, params: dict, made: Made):
    point = RecoveryPoint.objects.select_related("vault__subscription", "protected_item__vm",
                                                 "registered_item__vm").filter(pk=params["recovery_point_id"]).first()
    if point is None:
        raise JobFailed(POINT_GONE, POINT_GONE_ACTION, code="RecoveryPointNotFound")
    store = open_vault_store(point.vault)
    if not store.has_manifest(point.point_id):
        raise JobFailed(POINT_GONE, POINT_GONE_ACTION, code="RecoveryPointNotFound")
    try:
        target = validate_restore(
            point, vm_name=params["vm_name"], cloud_service=params["cloud_service"],
            create_cloud_service=params["create_cloud_service"], storage_account=params["storage_account"],
            virtual_network=params["virtual_network"], subnet=params["subnet"], disks_only=params["disks_only"],
            disk_keys=params.get("disk_keys") or None)
    except ValidationError as error:
        if point.is_damaged and "point_id" in getattr(error, "message_dict", {}):
            raise JobFailed(" ".join(error.messages), DAMAGED_ACTION, code="RecoveryPointDamaged") from None
        raise JobFailed(" ".join(error.messages), "Correct the restore settings and start the restore again.",
                        code="RestoreTargetInvalid") from None
    sizes = {d["key"]: d["size"] for d in point.disks or []}
    if params["disks_only"]:
        made.folder = target.storage_account.folder / f"restore-{job.pk}"
        shutil.rmtree(made.folder, ignore_errors=True)  # a redelivered job starts again from nothing
        made.folder.mkdir(parents=True)
        made.record(job)
        return point, store, {key: made.folder / f"{key}.vhd" for key in target.disk_keys}
    targets = _create_machine_rows(target, sizes, made)
    made.record(job)
    return point, store, targets


def _create_machine_rows(target: RestoreTarget, sizes: dict[str, int], made: Made) -> dict[str, Path]:
    source = source_vm(target.point)
    vault = target.point.vault
    try:
        with transaction.atomic():
            service = target.cloud_service
            if service is None:
                service = CloudService.objects.create(
                    subscription=vault.subscription, name=target.cloud_service_name, region=vault.region,
                    virtual_network=target.virtual_network,
                    subnets=virtual_networks_for(vault).get(target.virtual_network, []))
                made.cloud_service_id = service.pk
            vm = VirtualMachine.objects.create(
                subscription=vault.subscription, cloud_service=service, name=target.vm_name,
                power_state=VirtualMachine.PowerState.DEALLOCATED, agent_installed=True,
                backup_extension_installed=False, endpoint_count=0,
                **_copied_from(source),
            )
            made.vm_id = vm.pk
            targets = {}
            for key in target.disk_keys:
                kind, lun = (VirtualDisk.Kind.OS, 0) if key == "os" else (VirtualDisk.Kind.DATA, int(key.split("-")[1]))
                disk = VirtualDisk.objects.create(vm=vm, kind=kind, lun=lun, storage_account=target.storage_account,
                                                  max_size=sizes[key])
                targets[key] = disk.path
    except IntegrityError:
        made.vm_id = made.cloud_service_id = None
        raise JobFailed(REPLACE_REFUSED, "Choose another name for the restored virtual machine.",
                        code="VmNameTaken") from None
    for path in targets.values():
        # Ids come back after a rolled-back database (tests, restores of the portal's database): never adopt
        # an old image that happens to sit at the new disk's path.
        if path.exists():
            Disk(path).delete()
        path.parent.mkdir(parents=True, exist_ok=True)
    return targets


def _copied_from(source: VirtualMachine | None) -> dict:
    if source is None:
        return {}
    return {"os_family": source.os_family, "os_version": source.os_version, "size": source.size,
            "agent_version": source.agent_version, "domain_controller": source.domain_controller,
            "multi_dc_domain": source.multi_dc_domain}


def _restore_disks(ctx: JobContext, store, point: RecoveryPoint, targets: dict[str, Path]) -> None:
    try:
        result = engine.restore_point(store, point.point_id, targets, progress=ctx.progress,
                                      cancel=ctx.cancel_requested)
    except engine.Cancelled:
        raise JobCancelled() from None
    except engine.StoreFull:
        raise JobFailed("The target storage account is full.", "Choose another storage account.",
                        code="StorageAccountFull") from None
    except engine.ChunkError as error:
        integrity.record_chunk_error(point.vault, store, error)
        raise JobFailed(DAMAGED.format(error=error), DAMAGED_ACTION, code="RecoveryPointUnreadable") from None
    except (engine.EngineError, ValueError) as error:
        raise JobFailed(DAMAGED.format(error=describe(error)), DAMAGED_ACTION, code="RecoveryPointUnreadable") from None
    ctx.set_result(restored_bytes=result.bytes_total, disks_restored=len(result.files))


def _disks_result(params: dict, targets: dict[str, Path]) -> dict:
    folder = next(iter(targets.values())).parent.name if targets else ""
    return {"Target Storage Account Name": params["storage_account"], "Config Blob Container Name": folder,
            "Config Blob Name": "", "container": folder,
            # Blob names within the storage account: a job's result never shows where the server keeps them.
            "restored_disks": {key: f"{path.parent.name}/{path.name}" for key, path in targets.items()}}


def _finish_vm(vm_id: int) -> VirtualMachine:
    vm = VirtualMachine.objects.select_related("cloud_service").get(pk=vm_id)
    for disk in vm.disks.all():
        Disk.open(disk.path)  # starts change tracking, as for any new disk
    account = vm.disks.first().storage_account
    resource = VirtualDisk.objects.create(vm=vm, kind=VirtualDisk.Kind.RESOURCE, storage_account=account,
                                          max_size=layout.RESOURCE_DISK_MAX)
    if resource.path.exists():
        Disk(resource.path).delete()
    Disk.create(resource.path, layout.RESOURCE_DISK_MAX)
    VirtualMachine.objects.filter(pk=vm.pk).update(power_state=VirtualMachine.PowerState.RUNNING)
    vm.power_state = VirtualMachine.PowerState.RUNNING
    return vm


def _clean_up(made: Made) -> None:
    """Remove what a failed or cancelled restore made: files first, then rows (the VM before its cloud service)."""
    if made.folder is not None:
        shutil.rmtree(made.folder, ignore_errors=True)
    if made.vm_id is not None:
        for disk in VirtualDisk.objects.filter(vm_id=made.vm_id):
            if disk.path.exists():
                Disk(disk.path).delete()
        VirtualMachine.objects.filter(pk=made.vm_id).delete()
    if made.cloud_service_id is not None:
        CloudService.objects.filter(pk=made.cloud_service_id, virtual_machines__isnull=True).delete()


def restored_disk_jobs(vault: Vault):
    """Completed "restore disks only" jobs of a vault: where their disks landed."""
    return Job.objects.filter(vault_id=vault.pk, operation=Operation.RESTORE, status=JobStatus.COMPLETED,
                              params__disks_only=True).order_by("-started_at")
