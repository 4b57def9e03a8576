"""What the scheduler checks even when no job runs: stale protection (a missed RPO), damaged points still
damaged, vaults nearly full, approvals that expired unused. Run by the `evaluate-alerts` beat task every
ALERTS_CHECK_EVERY_S."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from backup.jobs.models import Job, JobStatus
from backup.vaults.models import Vault
from backup.vms.models import BackupPolicy, ProtectedItem, RecoveryPoint

from ..models import Alert, Kind
from .guard_events import check_expired_approvals
from .incidents import raise_alert, resolve
from .job_failures import FAILURE_KINDS, job_item_key, raise_for_job

DAY = timedelta(days=1)


def item_key(item: ProtectedItem) -> str:
    """The item as jobs name it (`vm:<id>`), so its failures and its staleness show under one name."""
    return f"vm:{item.vm_id}" if item.vm_id else f"protected-item:{item.pk}"


def expected_interval(policy: BackupPolicy) -> timedelta:
    """How often the policy makes a point: its beat entry's interval when it has one, else daily, or the longest
    gap between its weekdays."""
    task = policy.periodic_task
    if task is not None and task.interval is not None:
        return timedelta(**{task.interval.period: task.interval.every})
    if policy.frequency == BackupPolicy.Frequency.WEEKLY and policy.days_of_week:
        days = sorted(set(policy.days_of_week))
        gaps = [(b - a) for a, b in zip(days, days[1:] + [days[0] + 7], strict=True)]
        return max(gaps) * DAY
    return DAY


def stale_since(item: ProtectedItem, newest: datetime | None) -> datetime:
    """When the item's RPO is missed: its newest point (or its protection, before the first) plus the policy's
    interval plus the grace."""
    assert item.policy is not None
    grace = timedelta(seconds=settings.ALERTS_STALE_GRACE_S)
    return (newest or item.protected_at) + expected_interval(item.policy) + grace


def check_stale(now: datetime | None = None) -> int:
    """Raise stale protection for every protected item past its RPO, resolve it for the others; returns how many
    are stale."""
    now = now or timezone.now()
    items = (
        ProtectedItem.objects.exclude(status=ProtectedItem.Status.STOPPED)
        .filter(policy__isnull=False)
        .select_related("policy__periodic_task__interval", "vault")
        .annotate(newest=Max("recovery_points__created_at"))
    )
    stale_keys = set()
    for item in items:
        since = stale_since(item, item.newest)
        if now < since:
            continue
        key = item_key(item)
        stale_keys.add(key)
        newest = f"is from {item.newest:%Y-%m-%d %H:%M:%S} UTC" if item.newest else "was never made"
        raise_alert(
            subscription_id=item.vault.subscription_id,
            vault_id=item.vault_id,
            kind=Kind.STALE_PROTECTION,
            item_key=key,
            item_name=item.vm_name,
            operation="Backup",
            repeat=False,
            at=now,
            message=(
                f"The newest recovery point of '{item.vm_name}' {newest}: its policy "
                f"'{item.policy}' should have made one by {since:%Y-%m-%d %H:%M:%S} UTC (its "
                f"interval plus a grace of {settings.ALERTS_STALE_GRACE_S} s)."
            ),
        )
    for alert in Alert.objects.filter(kind=Kind.STALE_PROTECTION, state=Alert.State.ACTIVE).exclude(
        item_key__in=stale_keys
    ):
        resolve(
            kind=Kind.STALE_PROTECTION,
            item_key=alert.item_key,
            subscription_id=alert.subscription_id,
            resolution="A new recovery point was made, or the item is no longer protected.",
        )
    return len(stale_keys)


def check_damage(vault_id: int | None = None) -> None:
    """Raise an alert for each damaged recovery point; resolve the alerts of points healed or gone."""
    points = RecoveryPoint.objects.filter(damaged_at__isnull=False).select_related("vault")
    alerts = Alert.objects.filter(kind=Kind.DAMAGED_POINT, state=Alert.State.ACTIVE)
    if vault_id is not None:
        points, alerts = points.filter(vault_id=vault_id), alerts.filter(vault_id=vault_id)
    damaged = set()
    for point in points:
        key = f"recovery_point:{point.pk}"
        damaged.add(key)
        disks = ", ".join(point.damaged_disks) or "unknown disks"
        raise_alert(
            subscription_id=point.vault.subscription_id,
            vault_id=point.vault_id,
            kind=Kind.DAMAGED_POINT,
            item_key=key,
            item_name=point.vm_name,
            operation="Verify",
            repeat=False,
            message=(
                f"The recovery point of '{point.vm_name}' made {point.created_at:%Y-%m-%d %H:%M} UTC "
                f"is damaged ({disks}): a restore of those disks is refused until a backup heals it."
            ),
        )
    for alert in alerts.exclude(item_key__in=damaged):
        resolve(
            kind=Kind.DAMAGED_POINT,
            item_key=alert.item_key,
            subscription_id=alert.subscription_id,
            resolution="The recovery point was healed by a later backup, or deleted.",
        )


def check_storage() -> None:
    minimum = settings.ALERTS_STORAGE_FREE_MIN_PERCENT
    # A vault whose store is in a bucket is skipped: object storage has no free space to measure (its quota,
    # if any, is the provider's), and a full bucket fails backups with their own clear error.
    for vault in Vault.objects.filter(status=Vault.Status.ACTIVE).select_related("primary_location"):
        if vault.in_bucket:
            continue
        try:
            usage = shutil.disk_usage(vault.store_path)
        except OSError:
            continue
        key = f"vault:{vault.pk}"
        free = 100 * usage.free / usage.total if usage.total else 100.0
        if free < minimum:
            raise_alert(
                subscription_id=vault.subscription_id,
                vault_id=vault.pk,
                kind=Kind.STORAGE_NEARLY_FULL,
                item_key=key,
                item_name=vault.name,
                repeat=False,
                message=(
                    f"The storage of the vault '{vault.name}' is nearly full: {free:.1f}% free "
                    f"({usage.free // (1 << 20)} MiB), below {minimum:g}%. Backups fail once it is full."
                ),
            )
        else:
            resolve(
                kind=Kind.STORAGE_NEARLY_FULL,
                item_key=key,
                subscription_id=vault.subscription_id,
                resolution=f"{free:.1f}% of the vault's storage is free again.",
            )


def check_failed_jobs(now: datetime | None = None, window_s: int = 3600) -> int:
    """The failures the end of a job should have raised but did not (its worker killed between writing the job's
    status and raising the alert): raise them now, unless a later success took the cause away."""
    now = now or timezone.now()
    raised = 0
    failed = Job.objects.filter(
        status=JobStatus.FAILED, operation__in=list(FAILURE_KINDS), ended_at__gte=now - timedelta(seconds=window_s)
    )
    failed = failed.exclude(error_code="OperationInProgress")  # refused, never run: stale protection covers it
    for job in failed.order_by("ended_at"):
        kind, key = FAILURE_KINDS[job.operation], job_item_key(job)
        known = Alert.objects.filter(subscription_id=job.subscription_id, kind=kind, item_key=key)
        if known.filter(job_id=job.pk).exists() or known.filter(last_seen_at__gte=job.ended_at).exists():
            continue
        later = Job.objects.filter(
            subscription_id=job.subscription_id,
            operation=job.operation,
            vault_id=job.vault_id,
            item_type=job.item_type,
            item_id=job.item_id,
            status=JobStatus.COMPLETED,
            ended_at__gt=job.ended_at,
        )
        if later.exists():
            continue
        raise_for_job(job, kind, job.error_message)
        raised += 1
    return raised


def evaluate(now: datetime | None = None) -> int:
    check_failed_jobs(now)
    stale = check_stale(now)
    check_damage()
    check_storage()
    check_expired_approvals(now)
    return stale
