"""Metering: the protected-instance size of a machine and the daily usage record of every
protected item, from which bills are computed (see bills.py).

A day's record describes the item as of the end of that day (or now, for today). The hourly
task rewrites today's record and fills yesterday's if it is missing; a record of a past day
is never rewritten, so a bill of a past month never changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, TypedDict

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from backup.fabric.disks import Disk
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem, RecoveryPoint, VirtualDisk, VirtualMachine

from ..models import DailyUsage, PriceSheet
from ..months import Month
from .pricing import NoPriceSheet, SheetBook, band_for

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

RESOURCE = VirtualDisk.Kind.RESOURCE


class _AsOf(TypedDict):
    """What `_items_as_of` adds to each item: its points made before the day ended and their sizes."""

    point_count: int
    logical: int | None
    stored: int | None
    newest_pi: int | None


def protected_instance_size(disks: Iterable[tuple[str, int]]) -> int:
    """Protected-instance size from (disk kind, bytes of actual data) pairs: the data on the OS
    disk and the data disks; the resource (temporary) disk is never backed up, so never billed."""
    return sum(allocated for kind, allocated in disks if kind != RESOURCE)


def allocated_bytes(disk: VirtualDisk) -> int:
    """The data a disk holds: a KVM disk's allocation as its host reported it at the last sync (the image is on
    the host, not here), a simulated disk's allocated extents (SEEK_DATA). A missing image raises OSError."""
    if disk.target:
        return disk.allocation or 0
    return Disk(disk.path).allocated_bytes()


def protected_instance_bytes(vm: VirtualMachine) -> int:
    """The machine's protected-instance size now, from the allocated data of its disks, not their maximum
    sizes. A missing image raises OSError."""
    disks = [(d.kind, 0 if d.kind == RESOURCE else allocated_bytes(d)) for d in vm.disks.all()]
    return protected_instance_size(disks)


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _items_as_of(as_of: datetime):
    points = RecoveryPoint.objects.filter(protected_item=OuterRef("pk"), created_at__lt=as_of)
    in_time = Q(recovery_points__created_at__lt=as_of)
    return (
        # Re-protecting a stopped item moves protected_at; its earlier points still count.
        ProtectedItem.objects.filter(Q(protected_at__lt=as_of) | Exists(points))
        .select_related("vault__subscription", "vm")
        .annotate(
            point_count=Count("recovery_points", filter=in_time),
            logical=Sum("recovery_points__logical_bytes", filter=in_time),
            stored=Sum("recovery_points__stored_bytes_new", filter=in_time),
            newest_pi=Subquery(points.order_by("-created_at").values("protected_instance_bytes")[:1]),
        )
    )


def _billed_size(item: WithAnnotations[ProtectedItem, _AsOf], measure_live: bool) -> int:
    """Size billed for a day: frozen at the last successful backup once protection is stopped,
    otherwise the size the newest backup measured (the machine's own disks as a fallback)."""
    if item.status == ProtectedItem.Status.STOPPED and item.protected_instance_bytes:
        return item.protected_instance_bytes
    size = item.newest_pi or item.protected_instance_bytes
    if not size and measure_live and item.vm is not None:
        try:
            size = protected_instance_bytes(item.vm)
        except OSError:
            size = 0
    return size


def usage_values(item: WithAnnotations[ProtectedItem, _AsOf], day: date, book: SheetBook, measure_live: bool) -> dict:
    vault = item.vault
    # Billing starts with the first successful backup and lasts while any of its data is stored.
    billable = item.point_count > 0
    size = _billed_size(item, measure_live) if billable else item.protected_instance_bytes
    sheet: PriceSheet | None
    try:
        sheet = book.on(day)
    except NoPriceSheet:
        sheet = book.sheets[-1] if book.sheets else None
    band = band_for(size, sheet) if sheet is not None else None
    return {
        "subscription": vault.subscription,
        "subscription_name": vault.subscription.name,
        "vault_name": vault.name,
        "protected_item_ref": item.pk,
        "vm_name": item.vm_name,
        "cloud_service_name": item.cloud_service_name,
        "item_status": item.status,
        "protected_instance_bytes": size,
        "band": band.code if band else DailyUsage.Band.SMALL,
        "large_units": band.large_units if band else 0,
        "recovery_points": item.point_count,
        "logical_bytes": item.logical or 0,
        "stored_bytes": item.stored or 0,
        # Billed for what is stored: geo-redundant once the vault keeps its copy in the paired region (the GRS
        # price covers both copies), locally redundant while it keeps one.
        "redundancy": Vault.Redundancy.GEO if vault.has_secondary else Vault.Redundancy.LOCAL,
        "billable": billable,
        "recorded_at": timezone.now(),
    }


def meter_day(day: date, *, now: datetime | None = None, overwrite: bool = False) -> int:
    """Record the usage of every protected item on `day`; returns the number of rows written.

    With overwrite=False (past days) only missing rows are created, so nothing recorded changes.
    """
    now = now or timezone.now()
    as_of = min(end_of(day), now)
    book = SheetBook()
    written = 0
    with transaction.atomic():
        existing = set(DailyUsage.objects.filter(day=day).values_list("vault_ref", "item_ref"))
        for item in _items_as_of(as_of):
            key = (item.vault_id, item.registered_item_id)
            if key in existing and not overwrite:
                continue
            values = usage_values(item, day, book, measure_live=day == now.date())
            DailyUsage.objects.update_or_create(day=day, vault_ref=key[0], item_ref=key[1], defaults=values)
            written += 1
    return written


def meter_item(item_pk: int, *, now: datetime | None = None) -> bool:
    """Rewrite today's record of one item, so what a backup made is billed (and shown) at once, not at the next
    hourly run; False when the item is gone."""
    now = now or timezone.now()
    item = _items_as_of(now).filter(pk=item_pk).first()
    if item is None:
        return False
    values = usage_values(item, now.date(), SheetBook(), measure_live=True)
    DailyUsage.objects.update_or_create(
        day=now.date(), vault_ref=item.vault_id, item_ref=item.registered_item_id, defaults=values
    )
    return True


def meter_usage(now: datetime | None = None) -> int:
    """The hourly metering run: fill yesterday if a run was missed, then (re)record today."""
    now = now or timezone.now()
    today = now.date()
    return meter_day(today - timedelta(days=1), now=now) + meter_day(today, now=now, overwrite=True)


def recompute_month(month: Month, now: datetime | None = None) -> int:
    """For operators: fill the days of a month that have no records (up to today).
    Recorded days are left exactly as they are."""
    now = now or timezone.now()
    days = [d for d in month.day_list() if d <= now.date()]
    return sum(meter_day(day, now=now) for day in days)
