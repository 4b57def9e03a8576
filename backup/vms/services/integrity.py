"""What the portal knows about the health of recovery points: verify state, damage, healing.

A chunk found corrupt or missing (by Verify, by a restore, by any read) is moved aside in the store
(`<hash>.N.bad`, engine/store.py) and every recovery point referencing it is marked damaged: its
`damaged_chunks` lists the disk and chunk, `damaged_at` says since when. Pages, API and CLI show the
mark, and a restore of a damaged disk is refused before it starts.

Healing: the chunk's name is its hash, so once any backup holding that data rewrites it, every point
sharing it restores again. Marks are cleared by `heal()`, which re-reads only the recorded chunks of
the vault's damaged points; it runs before every Prune (the job that follows each successful backup,
so a point is no longer damaged once the backup that repaired it has finished) and after every
Verify. A healed point's verify state is reset, so the next daily verification checks it whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backup import engine
from backup.notifications.times import moment_text
from backup.vaults.models import Vault

from ..models import RecoveryPoint

_BATCH = 500
Problem = tuple[str, str, Iterable[tuple[str, str]]]  # (chunk hash, kind, [(point_id, disk key)])


def record_problems(vault: Vault, problems: Iterable[Problem], now: datetime | None = None) -> list[str]:
    """Mark every point referencing a bad chunk damaged; returns the point ids newly or further damaged."""
    by_point: dict[str, list[dict]] = defaultdict(list)
    for chunk_hash, kind, references in problems:
        for point_id, disk_key in references:
            by_point[point_id].append({"disk": disk_key, "chunk": chunk_hash, "kind": kind})
    if not by_point:
        return []
    now = now or timezone.now()
    changed = []
    with transaction.atomic():
        for point in RecoveryPoint.objects.select_for_update().filter(vault=vault, point_id__in=list(by_point)):
            known = {(d["disk"], d["chunk"]) for d in point.damaged_chunks or []}
            new = [d for d in by_point[point.point_id] if (d["disk"], d["chunk"]) not in known]
            if not new and point.damaged_at is not None:
                continue
            point.damaged_chunks = list(point.damaged_chunks or []) + new
            point.damaged_at = point.damaged_at or now
            point.save(update_fields=["damaged_chunks", "damaged_at"])
            changed.append(point.point_id)
    return changed


def _references(store: engine.VaultStore, hashes: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """(point_id, disk key) of every manifest of the store naming each chunk: dedup shares a chunk across
    points and items, and all of them are damaged, not only the ones a verify or a restore was asked about."""
    refs: dict[str, list[tuple[str, str]]] = {h: [] for h in hashes}
    if refs:
        for m in store.list_manifests():
            for d in m.disks:
                for h in refs.keys() & set(d.chunks):
                    refs[h].append((m.point_id, d.key))
    return refs


def record_chunk_error(vault: Vault, store: engine.VaultStore, error: engine.ChunkError) -> list[str]:
    """A read (a restore) met a bad chunk: mark every point of the vault that shares it, not just the one read."""
    references = _references(store, [error.chunk_hash])[error.chunk_hash]
    if error.point_id is not None and not references:
        references = [(error.point_id, error.disk_key or "")]
    return record_problems(vault, [(error.chunk_hash, error.kind, references)])


def record_verify(
    vault: Vault, store: engine.VaultStore, report: engine.VerifyReport, now: datetime | None = None
) -> None:
    """Keep each checked point's verify outcome and time, mark the damage found, then heal what was repaired."""
    now = now or timezone.now()
    problems = report.missing + report.corrupt
    failed = {point_id for p in problems for point_id, _ in p.references}
    checked = set(report.points_checked)
    for state, point_ids in (
        (RecoveryPoint.VerifyState.OK, checked - failed),
        (RecoveryPoint.VerifyState.FAILED, checked & failed),
    ):
        ids = sorted(point_ids)
        for start in range(0, len(ids), _BATCH):  # a whole vault may hold more points than one query takes
            RecoveryPoint.objects.filter(vault=vault, point_id__in=ids[start : start + _BATCH]).update(
                verify_state=state, verified_at=now
            )
    everywhere = _references(store, [p.chunk_hash for p in problems])
    record_problems(vault, [(p.chunk_hash, p.kind, {*p.references, *everywhere[p.chunk_hash]}) for p in problems], now)
    heal(vault, store)


def _sound(store: engine.VaultStore, chunk_hash: str) -> bool:
    try:
        store.read_chunk(chunk_hash, use_cache=False)
    except engine.ChunkError:
        return False
    return True


def heal(vault: Vault, store: engine.VaultStore) -> list[str]:
    """Clear the mark of every damaged point whose recorded chunks all read back sound now."""
    damaged = list(RecoveryPoint.objects.filter(vault=vault, damaged_at__isnull=False))
    sound: dict[str, bool] = {}
    healed = []
    for point in damaged:
        hashes = {d["chunk"] for d in point.damaged_chunks or []}
        for h in hashes - sound.keys():
            sound[h] = _sound(store, h)
        if all(sound[h] for h in hashes):
            with transaction.atomic():
                row = RecoveryPoint.objects.select_for_update().filter(pk=point.pk).first()
                if row is None or row.damaged_chunks != point.damaged_chunks:
                    continue  # pruned, or more damage was found while we read: the next heal decides
                row.damaged_chunks, row.damaged_at, row.verify_state, row.verified_at = [], None, "", None
                row.save(update_fields=["damaged_chunks", "damaged_at", "verify_state", "verified_at"])
            healed.append(point.point_id)
    return healed


def check_references(point: RecoveryPoint, store: engine.VaultStore) -> list[str]:
    """Mark the point damaged if a chunk it names is not in the store any more (quarantined by a read
    that ran beside the backup that made it). A stat per distinct chunk: no data is read."""
    try:
        manifest = store.load_manifest(point.point_id)
    except (engine.EngineError, ValueError):
        return []
    problems = []
    for disk in manifest.disks:
        for h in {h for h in disk.chunks if h is not None}:
            if not store.has_chunk(h):
                problems.append((h, "missing", [(point.point_id, disk.key)]))
    return record_problems(point.vault, problems)


def damage_message(point: RecoveryPoint, disks: Iterable[str] | None = None) -> str:
    """Why a damaged point cannot be restored, naming the point and its damaged disks."""
    keys = [k for k in point.damaged_disks if disks is None or k in set(disks)]
    when = moment_text(point.created_at)
    noun = "disk" if len(keys) == 1 else "disks"
    return (
        f"The recovery point {point.point_id} of {when} is damaged - its backup data for {noun} "
        f"{', '.join(keys)} is corrupt or missing in the vault, so it cannot be restored. Choose another "
        "recovery point, or back the item up again: a new backup repairs the damaged data."
    )
