"""Retention pruning: after a successful backup, the item's points its policy no longer keeps are removed.

Runs as its own Prune job (locked per item, `prune:<protected item id>`), so the user sees what was
expired. Rows go first, then the manifests (engine.prune); garbage collection frees the chunks later.

Every on-demand point is kept for the policy's daily retention (the product's rule), so each successful
backup adds a point. Damage is settled first (services/integrity.py): the backup that just ran may have
rewritten a damaged point's chunks (heal), or named one a concurrent read quarantined; then the newest
intact point is always kept, so damaged newer points never expire the last point that restores.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from backup import engine
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed
from backup.jobs.locks import Subject
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler

from ..models import BackupPolicy, ProtectedItem, RecoveryPoint
from . import anomaly, integrity, policies, replication
from .stores import open_vault_store


def retention_for(policy: BackupPolicy) -> engine.RetentionPolicy:
    # An item without a daily rule still keeps the newest point (select_points_to_prune never drops it).
    return policies.retention_rules(policy)


def policy_now(policy: BackupPolicy, now=None):
    """Now on the policy's calendar: its rules' days (a Sunday, the last of a month) are the days its
    schedule runs on, not UTC's."""
    now = now or timezone.now()
    try:
        return now.astimezone(ZoneInfo(policy.timezone))
    except (ValueError, KeyError):
        return now


def start_prune(item: ProtectedItem, *, user=None, scheduled: bool = False) -> Job | None:
    """Queue a Prune job for the item, unless it has no policy (nothing says what to expire)."""
    if item.policy_id is None:
        return None
    return jobs.start(
        subscription=item.vault.subscription,
        operation=Operation.PRUNE,
        subject=Subject.of_item(item),
        lock_key=locks.prune(item.pk),
        params={"protected_item_id": item.pk},
        user=user,
        scheduled=scheduled,
    )


def points_to_prune(item: ProtectedItem, now=None) -> list[RecoveryPoint]:
    """The item's points the policy does not keep: the calendar rules pick among scheduled points, every
    on-demand point stays for the daily retention, and the newest point that is not damaged always stays."""
    points = list(item.recovery_points.order_by("created_at"))
    if item.policy is None or not points:
        return []
    expired = engine.select_points_to_prune(
        [(p.point_id, p.created_at) for p in points],
        retention_for(item.policy),
        policy_now(item.policy, now),
        on_demand={p.point_id for p in points if p.on_demand},
        damaged={p.point_id for p in points if p.is_damaged},
    )
    held = anomaly.held_before(item.pk)  # a suspicious point keeps every older point unless it is dismissed
    return [p for p in points if p.point_id in expired and (held is None or p.created_at > held)]


def prune_item(item_id: int, now=None) -> list[str]:
    """Delete the expired points of one item: rows, then manifests. Returns the removed point ids."""
    try:
        item = ProtectedItem.objects.select_related("vault", "policy").get(pk=item_id)
    except ProtectedItem.DoesNotExist:
        raise JobFailed("The protected item no longer exists.", code="ItemNotFound") from None
    store = open_vault_store(item.vault)
    integrity.heal(item.vault, store)
    newest = item.recovery_points.order_by("-created_at", "-pk").first()
    if newest is not None:
        integrity.check_references(newest, store)
    expired = points_to_prune(item, now)
    if not expired:
        return []
    ids = [p.point_id for p in expired]
    with transaction.atomic():
        RecoveryPoint.objects.filter(pk__in=[p.pk for p in expired]).delete()
    # A manifest left behind by a crash here is harmless: no row points at it, and the next prune of the
    # item does not see it; GC keeps its chunks until an operator deletes the item's data.
    engine.prune(store, ids)
    replication.defer_secondary_deletion(item.vault, ids)
    return ids


@handler(Operation.PRUNE)
def prune_points(ctx: JobContext) -> None:
    with ctx.step("Expire recovery points"):
        removed = prune_item(ctx.job.params["protected_item_id"])
    ctx.record(points_removed=len(removed))
