"""Operators' operations on a vault's backup data: Verify, and garbage collection on demand.

Verify re-reads every chunk a vault's recovery points (or some points) reference and checks its hash.
Operators run it now (admin action, CLI `backup verify`, API); beat runs it on a schedule, as Proxmox
Backup Server does: every day each vault verifies its points never verified yet, and every week it
re-verifies the points whose last verify is older than VERIFY_REVERIFY_AFTER_DAYS (default 30). Every
Verify keeps each checked point's outcome and time (`verify_state`, `verified_at`) and marks the
points of a bad chunk damaged (services/integrity.py). A Verify job is locked on `verify:vault:<id>`,
so one store is verified by one job at a time; it is safe beside backups and garbage collection (it
only moves corrupt chunks aside). A problem found fails the job with what is damaged and where.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from backup import engine
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed, Refused, describe
from backup.jobs.locks import Subject
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler
from backup.vaults.models import Vault

from ..models import RecoveryPoint
from . import gc, integrity
from .stores import open_vault_store

VAULT_NOT_ACTIVE = "The vault is not active - Only an active vault's backup data can be verified."
VAULT_NOT_ACTIVE_GC = "The vault is not active - Garbage collection runs only on an active vault."
DAMAGED_ACTION = (
    "Run a new backup of the affected items so that they have a healthy recovery point, then contact support "
    "with the job's details."
)
SCOPE_NEW, SCOPE_OLD = "new", "old"  # scheduled verification: points never verified / verified long ago
NOTHING_DUE = {
    SCOPE_NEW: "Every recovery point of this vault has been verified - There is no new point to verify.",
    SCOPE_OLD: "No recovery point of this vault was last verified more than {days} days ago - Nothing to re-verify.",
}


def start_verify(vault: Vault, *, user=None, point: RecoveryPoint | None = None) -> Job:
    """Queue a Verify job of the whole vault, or of one of its recovery points."""
    if vault.status != Vault.Status.ACTIVE:
        raise Refused(VAULT_NOT_ACTIVE, code="VaultNotActive")
    if point is not None and point.vault_id != vault.pk:
        raise Refused("The recovery point does not belong to this vault.", code="PointNotInVault")
    return jobs.start(
        subscription=vault.subscription,
        operation=Operation.VERIFY,
        subject=Subject(vault_id=vault.pk, item_type="recovery_point", item_id=point.pk, item_name=point.vm_name)
        if point
        else Subject.of_vault(vault),
        lock_key=locks.verify(vault.pk),
        params={"point_ids": [point.point_id]} if point else {},
        user=user,
    )


def reverify_after_days() -> int:
    return int(getattr(settings, "VERIFY_REVERIFY_AFTER_DAYS", 30))


def points_due(vault: Vault, scope: str, now=None):
    """The vault's points a scheduled verification checks: never verified (new), or last verified more
    than VERIFY_REVERIFY_AFTER_DAYS ago (old; a point never verified but that old counts too)."""
    points = vault.recovery_points.order_by("created_at", "pk")
    if scope == SCOPE_NEW:
        return points.filter(verified_at__isnull=True)
    cutoff = (now or timezone.now()) - timedelta(days=reverify_after_days())
    return points.filter(Q(verified_at__lt=cutoff) | Q(verified_at__isnull=True, created_at__lt=cutoff))


def start_due_verify(vault: Vault, scope: str, *, user=None, now=None) -> Job:
    """Verify the vault's points due in `scope` now: what beat runs, and what an operator can run at once."""
    if vault.status != Vault.Status.ACTIVE:
        raise Refused(VAULT_NOT_ACTIVE, code="VaultNotActive")
    if scope not in (SCOPE_NEW, SCOPE_OLD):
        raise Refused(
            f"Unknown verification scope {scope!r}: say {SCOPE_NEW!r} or {SCOPE_OLD!r}.", code="BadVerifyScope"
        )
    point_ids = list(points_due(vault, scope, now).values_list("point_id", flat=True))
    if not point_ids:
        raise Refused(NOTHING_DUE[scope].format(days=reverify_after_days()), code="NothingToVerify")
    return jobs.start(
        subscription=vault.subscription,
        operation=Operation.VERIFY,
        subject=Subject.of_vault(vault),
        lock_key=locks.verify(vault.pk),
        params={"point_ids": point_ids, "scope": scope},
        user=user,
        scheduled=user is None,
    )


def start_scheduled_verifies(scope: str, now=None) -> list[Job]:
    """Beat: one scheduled Verify job per Active vault that has points due."""
    started = []
    for vault in Vault.objects.filter(status=Vault.Status.ACTIVE).select_related("subscription").order_by("pk"):
        try:
            started.append(start_due_verify(vault, scope, now=now))
        except Refused:  # nothing due in this vault
            continue
    return started


def verify_vault(vault_id: int, point_ids: list[str] | None = None, *, scheduled: bool = False) -> engine.VerifyReport:
    """Check the data and keep each point's verify state; raise JobFailed with a summary when a chunk is
    missing or corrupt. A scheduled run skips points pruned since it was queued."""
    vault = Vault.objects.get(pk=vault_id)
    store = open_vault_store(vault)
    if scheduled and point_ids:
        point_ids = [p for p in point_ids if store.has_manifest(p)]
    try:
        report = engine.verify(store, point_ids)
    except engine.EngineError as exc:
        raise JobFailed(
            f"The recovery point's data cannot be read: {describe(exc)}.", DAMAGED_ACTION, code="RecoveryPointMissing"
        ) from None
    integrity.record_verify(vault, store, report)
    if not report.ok:
        raise JobFailed(
            f"Verification found damaged backup data: {report.summary()}.", DAMAGED_ACTION, code="BackupDataDamaged"
        )
    return report


def start_gc_now(vault: Vault, *, user=None) -> Job:
    """Garbage collection on demand (beat runs it hourly too); refused on a vault that is not Active."""
    if vault.status != Vault.Status.ACTIVE:
        raise Refused(VAULT_NOT_ACTIVE_GC, code="VaultNotActive")
    return gc.start_gc(vault, user=user)


@handler(Operation.VERIFY)
def verify_backup_data(ctx: JobContext) -> None:
    with ctx.step("Verify backup data"):
        report = verify_vault(
            ctx.vault_id, ctx.job.params.get("point_ids") or None, scheduled=bool(ctx.job.params.get("scope"))
        )
    ctx.record(points_checked=len(report.points_checked), chunks_checked=report.chunks_checked)
