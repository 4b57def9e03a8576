"""Garbage collection per vault: frees chunks no recovery point references any more.

Beat runs `collect_garbage_all_vaults` on a schedule (CELERY_BEAT_SCHEDULE); it starts one Garbage
Collection job per Active vault, locked on `gc:vault:<id>` so two never run on one store. The engine's
collector is safe beside running backups (leases and a grace period; see backup/engine/gc.py).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from backup import engine
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed, describe
from backup.jobs.locks import Subject
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler
from backup.vaults.models import Vault

from . import backup_points, replication
from .stores import open_vault_store

GC_POSTPONED = "Nothing was freed: a backup was writing to the vault's storage. The next garbage collection frees it."


def start_gc(vault: Vault, *, user=None, scheduled: bool = False) -> Job:
    # Housekeeping is recorded as scheduled=False so hourly runs do not toast every member of the subscription.
    return jobs.start(
        subscription=vault.subscription,
        operation=Operation.GARBAGE_COLLECTION,
        subject=Subject.of_vault(vault),
        lock_key=locks.garbage_collection(vault.pk),
        user=user,
        scheduled=scheduled,
    )


def collect_garbage_all_vaults() -> list[Job]:
    return [
        start_gc(vault)
        for vault in Vault.objects.filter(status=Vault.Status.ACTIVE).select_related("subscription").order_by("pk")
    ]


def collect_vault_garbage(vault_id: int, grace: timedelta | None = None) -> engine.GcReport:
    vault = Vault.objects.get(pk=vault_id)
    store = open_vault_store(vault)
    grace = timedelta(seconds=settings.GC_GRACE_S) if grace is None else grace
    try:
        report = engine.collect_garbage(store, grace=grace)
        if vault.has_secondary:  # the chunks of points whose deletion has reached the secondary
            engine.collect_garbage(replication.open_secondary_store(vault), grace=grace)
        return report
    except engine.EngineError as exc:
        raise JobFailed(describe(exc), "Wait for the running garbage collection to finish.", code="GcBusy") from None


@handler(Operation.GARBAGE_COLLECTION)
def collect_garbage(ctx: JobContext) -> None:
    # First the points the store holds but the portal does not (a Backup killed between committing and
    # recording): adopted, they show in the portal and retention expires them; GC would keep them anyway.
    with ctx.step("Reconcile recovery points"):
        adopted = backup_points.adopt_orphan_manifests(ctx.vault_id)
    with ctx.step("Free unreferenced data"):
        report = collect_vault_garbage(ctx.vault_id)
    ctx.record(
        chunks_removed=report.chunks_removed,
        bytes_freed=report.bytes_freed,
        chunks_kept=report.chunks_kept,
        recovery_points_adopted=len(adopted),
        postponed=report.postponed,
    )
    if report.postponed:
        # A bucket store frees nothing while a backup writes to it; the next scheduled run does the work.
        ctx.record(warning=GC_POSTPONED)
