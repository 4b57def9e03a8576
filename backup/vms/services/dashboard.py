"""Figures of the vault DASHBOARD: the counts in one query each, the storage tile and its chart in one.

Storage is computed from the recovery point rows rather than by scanning the store: logical = data of
every point's disks, stored = new bytes each remaining point added to the store. The chart shows the stored
bytes of the remaining points by the day they were made (cumulative), over the last 30 days. Both come from one
pass over the points grouped by day (a vault keeps points for at most its retention's days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from backup.jobs.models import Job
from backup.tenancy.prepared import Prepared
from backup.vaults.models import Vault

from ..models import ProtectedItem, RecoveryPoint, RegisteredItem
from . import discovery, replication


@dataclass(frozen=True)
class DayOfPoints:
    logical: int
    stored: int
    points: int


# Each dashboard's queries have one shape, so their SQL is built once per process (backup/tenancy/prepared.py):
# building it through the ORM cost more CPU than the database took to answer.
_POINTS_BY_DAY = Prepared(
    RecoveryPoint,
    lambda vault_id: RecoveryPoint.objects.filter(vault_id=vault_id)
    .annotate(day=TruncDate("created_at"))
    .order_by()
    .values("day")
    .annotate(logical=Sum("logical_bytes"), stored=Sum("stored_bytes_new"), points=Count("id"))
    .values_list("day", "logical", "stored", "points"),
    int,
)
# One row (grouped by the vault filtered on) or none; `values("vault_id")` makes the aggregate a row to prepare.
_ITEMS = Prepared(
    ProtectedItem,
    lambda vault_id: ProtectedItem.objects.filter(vault_id=vault_id)
    .order_by()
    .values("vault_id")
    .annotate(
        protected=Count("id", filter=~Q(status=ProtectedItem.Status.STOPPED)),
        stopped=Count("id", filter=Q(status=ProtectedItem.Status.STOPPED)),
    )
    .values_list("protected", "stopped"),
    int,
)
_REGISTERED = Prepared(
    RegisteredItem,
    lambda vault_id: RegisteredItem.objects.filter(vault_id=vault_id)
    .exclude(status__in=discovery.NOT_REGISTERED_STATUSES)
    .order_by()
    .values("vault_id")
    .annotate(count=Count("id"))
    .values_list("count"),
    int,
)


def points_by_day(vault: Vault) -> dict[date, DayOfPoints]:
    rows = _POINTS_BY_DAY(vault.pk)
    return {day: DayOfPoints(logical or 0, stored or 0, points) for day, logical, stored, points in rows}


def page(vault: Vault, now: datetime) -> dict:
    """What the DASHBOARD shows: the last 24 hours' figures and the 30 days' chart."""
    by_day = points_by_day(vault)
    return {
        "summary": summary(vault, since=now - timedelta(hours=24), by_day=by_day),
        "chart": storage_chart(vault, days=30, now=now, by_day=by_day),
    }


def summary(vault: Vault, since: datetime, by_day: dict[date, DayOfPoints] | None = None) -> dict:
    by_day = by_day if by_day is not None else points_by_day(vault)
    days = by_day.values()
    items = _ITEMS(vault.pk)
    protected, stopped = items[0] if items else (0, 0)
    registered = _REGISTERED(vault.pk)
    return {
        "registered_vms": registered[0][0] if registered else 0,
        "protected_vms": protected,
        "stopped_vms": stopped,
        "jobs": Job.objects.counts_since(vault.pk, since),
        "logical_bytes": sum(day.logical for day in days),
        "stored_bytes": sum(day.stored for day in days),
        "recovery_points": sum(day.points for day in days),
        "copies": copies_of(vault, by_day),
        "replication": replication.replication_status(vault),
    }


@dataclass(frozen=True)
class Copy:
    name: str  # "Primary" / "Secondary"
    region: str
    stored_bytes: int


def copies_of(vault: Vault, by_day: dict[date, DayOfPoints] | None = None) -> list[Copy]:
    """What each copy of the vault holds: one for a locally redundant vault, two for a geo-redundant one. The
    secondary holds the points copied so far, copied in the order they were made, so it stores what they added.
    A vault with one copy stores what its points added, which `by_day` (points_by_day) already sums."""
    if by_day is not None and not vault.has_secondary:
        return [Copy("Primary", vault.region, sum(day.stored for day in by_day.values()))]
    stored = RecoveryPoint.objects.filter(vault=vault).aggregate(
        primary=Sum("stored_bytes_new"), secondary=Sum("stored_bytes_new", filter=Q(replicated_at__isnull=False))
    )
    found = [Copy("Primary", vault.region, stored["primary"] or 0)]
    if vault.has_secondary:
        found.append(Copy("Secondary", vault.secondary_region, stored["secondary"] or 0))
    return found


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: str  # SVG polyline points
    area: str  # SVG polygon points (the filled area under the line)
    max_bytes: int
    first_day: str
    last_day: str


def storage_chart(
    vault: Vault,
    *,
    days: int,
    now: datetime,
    width: int = 360,
    height: int = 90,
    by_day: dict[date, DayOfPoints] | None = None,
) -> Chart:
    start = (now - timedelta(days=days - 1)).date()
    per_day = by_day if by_day is not None else points_by_day(vault)
    total = sum(figures.stored for day, figures in per_day.items() if day < start)
    values = []
    for i in range(days):
        that_day = per_day.get(start + timedelta(days=i))
        total += that_day.stored if that_day else 0
        values.append(total)
    top = max(values) or 1
    step = width / max(1, days - 1)
    coords = [(round(i * step, 1), round(height - 4 - (v / top) * (height - 8), 1)) for i, v in enumerate(values)]
    line = " ".join(f"{x},{y}" for x, y in coords)
    return Chart(
        width,
        height,
        line,
        f"0,{height} {line} {width},{height}",
        max(values),
        start.strftime("%b %-d"),
        (start + timedelta(days=days - 1)).strftime("%b %-d"),
    )
