"""Figures of the vault DASHBOARD, each in one query.

Storage is computed from the recovery point rows rather than by scanning the store: logical = data of
every point's disks, stored = new bytes each remaining point added to the store. The chart shows the stored
bytes of the remaining points by the day they were made (cumulative), over the last 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from backup.jobs.models import Job
from backup.vaults.models import Vault

from ..models import ProtectedItem, RecoveryPoint
from . import discovery, replication


def summary(vault: Vault, since: datetime) -> dict:
    items = ProtectedItem.objects.filter(vault=vault).aggregate(
        protected=Count("id", filter=~Q(status=ProtectedItem.Status.STOPPED)),
        stopped=Count("id", filter=Q(status=ProtectedItem.Status.STOPPED)),
    )
    storage = RecoveryPoint.objects.filter(vault=vault).aggregate(
        logical=Sum("logical_bytes"),
        stored=Sum("stored_bytes_new"),
        points=Count("id"),
    )
    return {
        "registered_vms": discovery.registered_items(vault).count(),
        "protected_vms": items["protected"],
        "stopped_vms": items["stopped"],
        "jobs": Job.objects.counts_since(vault.pk, since),
        "logical_bytes": storage["logical"] or 0,
        "stored_bytes": storage["stored"] or 0,
        "recovery_points": storage["points"],
        "copies": copies_of(vault),
        "replication": replication.replication_status(vault),
    }


@dataclass(frozen=True)
class Copy:
    name: str  # "Primary" / "Secondary"
    region: str
    stored_bytes: int


def copies_of(vault: Vault) -> list[Copy]:
    """What each copy of the vault holds: one for a locally redundant vault, two for a geo-redundant one. The
    secondary holds the points copied so far, copied in the order they were made, so it stores what they added."""
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


def storage_chart(vault: Vault, *, days: int, now: datetime, width: int = 360, height: int = 90) -> Chart:
    start = (now - timedelta(days=days - 1)).date()
    before = RecoveryPoint.objects.filter(vault=vault, created_at__date__lt=start).aggregate(s=Sum("stored_bytes_new"))
    per_day = dict(
        RecoveryPoint.objects.filter(vault=vault, created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(s=Sum("stored_bytes_new"))
        .values_list("day", "s")
    )
    total = before["s"] or 0
    values = []
    for i in range(days):
        total += per_day.get(start + timedelta(days=i)) or 0
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
