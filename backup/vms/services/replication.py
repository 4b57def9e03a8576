"""Geo-redundancy: a geo-redundant vault's points are copied to its secondary store in the paired region.

After each recorded point (the Backup job's end, and `catch_up_all_vaults` from beat for anything behind) a
Replicate job copies every point not yet on the secondary, oldest first: its missing chunks, then its manifest
(engine.replicate_point), and marks the point `replicated_at`. It is housekeeping: hidden from the Jobs list
and toasts unless it fails, locked per vault (`replicate:vault:<id>`).

Deletions do not travel at once: a point deleted in the primary (retention, Delete Backup Data, a purge) is
recorded as a SecondaryDeletion due REPLICATION_DELETE_DELAY_S later, and the Replicate job applies those that
are due; the Garbage Collection job then frees their chunks in the secondary too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from backup import engine
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobCancelled, JobFailed, describe
from backup.jobs.locks import Subject
from backup.jobs.models import ACTIVE_STATUSES, Job, JobStatus, Operation
from backup.jobs.registry import handler
from backup.vaults import copies
from backup.vaults.models import Vault

from ..models import RecoveryPoint, SecondaryDeletion
from . import integrity
from .stores import STORE_UNAVAILABLE_ACTION, open_vault_store

SECONDARY_UNAVAILABLE = "The backup vault's storage in the paired region ({region}) cannot be opened."
STEP_COPY = "Copy recovery points"
STEP_DELETE = "Apply deletions due in the paired region"


def behind(vault: Vault):
    """The vault's points not yet on its secondary, oldest first."""
    return RecoveryPoint.objects.filter(vault=vault, replicated_at__isnull=True).order_by("created_at", "pk")


def due_deletions(vault: Vault, now: datetime | None = None):
    return SecondaryDeletion.objects.filter(vault=vault, done_at__isnull=True, due_at__lte=now or timezone.now())


def start_replication(vault: Vault, *, user=None) -> Job | None:
    """Queue a Replicate job for a vault with a secondary copy, unless one is already running (it copies every
    point behind, including any recorded while it runs)."""
    if not vault.has_secondary or vault.status != Vault.Status.ACTIVE:
        return None
    if Job.objects.filter(vault_id=vault.pk, operation=Operation.REPLICATE, status__in=ACTIVE_STATUSES).exists():
        return None
    return jobs.start(
        subscription=vault.subscription,
        operation=Operation.REPLICATE,
        subject=Subject.of_vault(vault),
        lock_key=locks.replicate(vault.pk),
        user=user,
    )


def catch_up_all_vaults(now: datetime | None = None) -> list[Job]:
    """Beat: a Replicate job for each vault with points behind or deletions due in its secondary."""
    started = []
    vaults = Vault.objects.filter(status=Vault.Status.ACTIVE, secondary_created_at__isnull=False)
    for vault in vaults.select_related("subscription").order_by("pk"):
        if behind(vault).exists() or due_deletions(vault, now).exists():
            job = start_replication(vault)
            if job is not None:
                started.append(job)
    return started


def defer_secondary_deletion(vault: Vault, point_ids: Iterable[str], now: datetime | None = None) -> None:
    """Points just deleted in the primary: delete them in the secondary only once the delay has passed."""
    if not vault.has_secondary:
        return
    now = now or timezone.now()
    due = now + timedelta(seconds=settings.REPLICATION_DELETE_DELAY_S)
    SecondaryDeletion.objects.bulk_create(
        [SecondaryDeletion(vault=vault, point_id=p, requested_at=now, due_at=due) for p in point_ids]
    )


def open_secondary_store(vault: Vault) -> engine.VaultStore:
    try:
        return copies.open_secondary(vault)
    except (engine.NotAStore, engine.StoreUnavailable):
        raise JobFailed(
            SECONDARY_UNAVAILABLE.format(region=vault.secondary_region),
            STORE_UNAVAILABLE_ACTION,
            code="SecondaryStoreUnavailable",
        ) from None


@dataclass
class Copied:
    points: int = 0
    chunks: int = 0
    bytes: int = 0
    failed: list[str] = field(default_factory=list)


def copy_behind(vault: Vault, cancel=None) -> Copied:
    """Copy every point behind to the secondary, oldest first; points recorded meanwhile are copied too. A damaged
    point waits until a later backup heals it (integrity.py) and does not hold back the points after it."""
    primary, secondary = open_vault_store(vault), open_secondary_store(vault)
    copied = Copied()
    done: set[int] = set()
    while True:
        points = [p for p in behind(vault).filter(damaged_at__isnull=True)[:100] if p.pk not in done]
        if not points:
            break
        for point in points:
            done.add(point.pk)
            if not primary.has_manifest(point.point_id):
                continue  # deleted in the primary meanwhile: nothing to copy
            try:
                result = engine.replicate_point(primary, secondary, point.point_id, cancel=cancel)
            except engine.Cancelled:
                raise JobCancelled() from None
            except engine.ChunkError as exc:
                integrity.record_chunk_error(vault, primary, exc)  # shown on the point; heals with a later backup
                copied.failed.append(f"{_when(point)}: {describe(exc)}")
                continue
            except (engine.EngineError, OSError) as exc:
                raise JobFailed(
                    f"The recovery point of {_when(point)} could not be copied to {vault.secondary_region}: "
                    f"{describe(exc)}",
                    STORE_UNAVAILABLE_ACTION,
                    code="ReplicationFailed",
                ) from None
            RecoveryPoint.objects.filter(pk=point.pk).update(replicated_at=timezone.now())
            copied.points += 1
            copied.chunks += result.chunks_copied
            copied.bytes += result.bytes_copied
    if copied.failed:
        raise JobFailed(
            f"{len(copied.failed)} recovery point(s) could not be copied to {vault.secondary_region}, their backup "
            f"data is damaged ({copied.failed[0]}); {copied.points} were copied.",
            "The next backup of the machine repairs the damaged data; the copy follows it.",
            code="ReplicationDamaged",
        )
    return copied


def _when(point: RecoveryPoint) -> str:
    return f"{timezone.localtime(point.created_at):%m/%d/%Y %H:%M}"


def apply_due_deletions(vault: Vault, now: datetime | None = None) -> int:
    due = list(due_deletions(vault, now))
    if not due:
        return 0
    secondary = open_secondary_store(vault)
    for deletion in due:
        secondary.delete_manifest(deletion.point_id)
    SecondaryDeletion.objects.filter(pk__in=[d.pk for d in due]).update(done_at=timezone.now())
    return len(due)


@handler(Operation.REPLICATE, cancellable=True)
def replicate(ctx: JobContext) -> None:
    vault = Vault.objects.select_related("primary_location", "secondary_location").get(pk=ctx.vault_id)
    with ctx.step(STEP_COPY):
        copied = copy_behind(vault, cancel=ctx.cancel_requested)
    with ctx.step(STEP_DELETE):
        deleted = apply_due_deletions(vault)
    ctx.show({"Paired region": vault.secondary_region, "Recovery points copied": copied.points})
    ctx.record(
        points_copied=copied.points, chunks_copied=copied.chunks, bytes_copied=copied.bytes, points_deleted=deleted
    )


# -- What the dashboard shows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplicationStatus:
    state: str  # "In sync", "Replicating", "Behind", "Failed"
    secondary_region: str
    behind_since: datetime | None  # the oldest point not yet copied
    lag_seconds: float  # its age; 0 when in sync
    points_behind: int
    reason: str = ""  # the failed job's message

    @property
    def label(self) -> str:
        if self.state == "Behind" and self.behind_since is not None:
            return f"Behind since {timezone.localtime(self.behind_since):%m/%d/%Y %H:%M}"
        if self.state == "Failed":
            return f"Failed: {self.reason}"
        return self.state


def replication_status(vault: Vault, now: datetime | None = None) -> ReplicationStatus | None:
    """None for a vault with one copy."""
    if not vault.has_secondary:
        return None
    now = now or timezone.now()
    waiting = behind(vault)
    oldest = waiting.first()
    count = waiting.count()
    last = Job.objects.filter(vault_id=vault.pk, operation=Operation.REPLICATE).order_by("-started_at", "-pk").first()
    lag = max(0.0, (now - oldest.created_at).total_seconds()) if oldest else 0.0
    since = oldest.created_at if oldest else None
    if last is not None and last.status in ACTIVE_STATUSES:
        state, reason = "Replicating", ""
    elif oldest is None:
        state, reason = "In sync", ""
    elif last is not None and last.status == JobStatus.FAILED:
        state, reason = "Failed", last.error_message
    else:
        state, reason = "Behind", ""
    return ReplicationStatus(state, vault.secondary_region, since, lag, count, reason)
