"""What the RESTORE wizard offers: the source machine, the storage accounts, cloud services and virtual
networks a restore may use, and the calendar of a protected item's recovery points."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from backup import engine
from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults.models import Vault

from ...models import CloudService, ProtectedItem, RecoveryPoint, StorageAccount, VirtualMachine

SUPPORTED_KINDS = (StorageAccount.Kind.STANDARD_LRS, StorageAccount.Kind.STANDARD_GRS)


def source_vm(point: RecoveryPoint) -> VirtualMachine | None:
    """The machine the point was taken of, when the fabric still has it."""
    item = point.protected_item or getattr(point.registered_item, "protected_item", None)
    vm = item.vm if item is not None else None
    if vm is None and point.registered_item is not None:
        vm = point.registered_item.vm
    return vm


def is_multi_dc_controller(vm: VirtualMachine | None) -> bool:
    return vm is not None and vm.domain_controller and vm.multi_dc_domain


def restore_region(vault: Vault, from_secondary: bool = False) -> str:
    """Where a restore goes: the vault's region, or the paired region for a restore from the secondary copy."""
    return vault.secondary_region if from_secondary else vault.region


def primary_store_opens(vault: Vault) -> bool:
    """Whether the vault's primary copy can be opened now: when it cannot, the wizard offers the secondary."""
    try:
        engine.open_store(vault.store_location, vault.store_options)
    except (engine.NotAStore, engine.StoreUnavailable, OSError):
        return False
    return True


def offers_secondary(point: RecoveryPoint) -> bool:
    """A point of a geo-redundant vault already copied to its paired region can be restored from there."""
    return point.vault.has_secondary and point.replicated_at is not None


def storage_accounts_for(vault: Vault, kvm: bool | None = None, *, from_secondary: bool = False):
    """Accounts a restore may write to: the vault's subscription and region (the paired region from the
    secondary copy), Standard LRS or GRS; with `kvm`, only the storage pools of KVM hosts (True) or only the
    simulated fabric's accounts (False)."""
    accounts = StorageAccount.objects.filter(
        subscription=vault.subscription, region=restore_region(vault, from_secondary), kind__in=SUPPORTED_KINDS
    ).order_by("name")
    return accounts if kvm is None else accounts.filter(host__isnull=not kvm)


def cloud_services_for(vault: Vault, kvm: bool | None = None, *, from_secondary: bool = False):
    """Existing cloud services a restore may deploy into: same subscription and region, no reserved IP; with
    `kvm`, only KVM hosts' (True) or only the simulated fabric's (False)."""
    services = CloudService.objects.filter(
        subscription=vault.subscription, region=restore_region(vault, from_secondary), reserved_ip=False
    ).order_by("name")
    return services if kvm is None else services.filter(host__isnull=not kvm)


def virtual_networks_for(vault: Vault, *, from_secondary: bool = False) -> dict[str, list[str]]:
    """The virtual networks of the restore's region (known from the cloud services bound to them) and their
    subnets."""
    networks: dict[str, list[str]] = {}
    services = (
        CloudService.objects.filter(subscription=vault.subscription, region=restore_region(vault, from_secondary))
        .exclude(virtual_network="")
        .order_by("virtual_network", "name")
    )
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
    for moment in (
        points_of(item).filter(created_at__gte=start, created_at__lt=end).values_list("created_at", flat=True)
    ):
        day = _local_day(moment)
        counts[day] = counts.get(day, 0) + 1
    weeks = [
        [CalendarDay(d, d.month == month, counts.get(d, 0) if d.month == month else 0, d == selected) for d in week]
        for week in calendar.Calendar(firstweekday=6).monthdatescalendar(year, month)
    ]
    oldest = points_of(item).last()
    newest = points_of(item).first()
    previous = _month_start(first - timedelta(days=1))
    following = _month_start(last + timedelta(days=1))
    return CalendarMonth(
        year,
        month,
        first.strftime("%B %Y"),
        weeks,
        previous if oldest is not None and _month_start(_local_day(oldest.created_at)) <= previous else None,
        following if newest is not None and _month_start(_local_day(newest.created_at)) >= following else None,
    )


def points_on(item: ProtectedItem, day: date) -> list[RecoveryPoint]:
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    return list(points_of(item).filter(created_at__gte=start, created_at__lt=start + timedelta(days=1)))


def restored_disk_jobs(vault: Vault):
    """Completed "restore disks only" jobs of a vault: where their disks landed."""
    return Job.objects.filter(
        vault_id=vault.pk, operation=Operation.RESTORE, status=JobStatus.COMPLETED, params__disks_only=True
    ).order_by("-started_at")
