"""A backup's vault store and recovery points, for both fabrics: the store a backup writes to, the point its
incremental builds on, and making a committed manifest visible as a RecoveryPoint.

A point's id is derived from its Backup job's id (`job-<id>`): a job redelivered after its worker died, the
job's clean-up, and garbage collection adopt a manifest the store already committed instead of making a
second point.
"""

from __future__ import annotations

from typing import Protocol

from django.db import transaction
from django.utils import timezone

from backup import engine
from backup.jobs.models import ACTIVE_STATUSES, Job, Operation
from backup.vaults.models import Vault

from ..models import ProtectedItem, RecoveryPoint
from . import anomaly
from .backup_messages import VAULT_UNAVAILABLE
from .stores import open_vault_store


class BackedUpTarget(Protocol):
    """What recording a point needs of either fabric's target (BackupTarget, kvm_backup.KvmTarget)."""

    item: ProtectedItem
    machine_config: str


def open_store(item: ProtectedItem) -> engine.VaultStore:
    return open_vault_store(item.vault, VAULT_UNAVAILABLE)


def base_manifest(store: engine.VaultStore, item: ProtectedItem) -> engine.Manifest | None:
    """The item's newest recovery point whose manifest is still in the store: the incremental's base."""
    for point_id in item.recovery_points.order_by("-created_at").values_list("point_id", flat=True)[:5]:
        if store.has_manifest(point_id):
            try:
                return store.load_manifest(point_id)
            except (engine.EngineError, ValueError):
                continue
    return None


def point_id_for(job: Job) -> str:
    return f"job-{job.pk}"


def record_point(target: BackedUpTarget, manifest: engine.Manifest, job: Job) -> RecoveryPoint:
    """Make the committed manifest visible as a RecoveryPoint and mark the item Protected."""
    return _record(target.item, manifest, job, machine_config=target.machine_config)


def _record(item: ProtectedItem, manifest: engine.Manifest, job: Job, machine_config: str = "") -> RecoveryPoint:
    # Protected-instance size: the data of the backed-up disks (OS + data), never the resource disk.
    instance_bytes = sum(d.logical_bytes for d in manifest.disks if d.key != "resource")
    with transaction.atomic():
        point, created = RecoveryPoint.objects.get_or_create(
            vault_id=item.vault_id,
            point_id=manifest.point_id,
            defaults={
                "protected_item": item,
                "registered_item_id": item.registered_item_id,
                "vm_name": item.vm_name,
                "created_at": manifest.time,
                "consistency": manifest.consistency,
                "logical_bytes": manifest.logical_bytes,
                "bytes_read": manifest.bytes_read,
                "bytes_transferred": manifest.bytes_transferred,
                "stored_bytes_new": manifest.stored_bytes_new,
                "protected_instance_bytes": instance_bytes,
                "job_id": job.pk,
                "on_demand": not job.scheduled,
                "disks": [{"key": d.key, "size": d.size, "logical_bytes": d.logical_bytes} for d in manifest.disks],
                "machine_config": machine_config,
            },
        )
        if created:
            anomaly.assess(point)  # before the Prune job that follows, so a suspicious point holds it
        ProtectedItem.objects.filter(pk=item.pk).exclude(status=ProtectedItem.Status.STOPPED).update(
            status=ProtectedItem.Status.PROTECTED,
            last_backup_at=timezone.now(),
            last_backup_status="completed",
            protected_instance_bytes=instance_bytes,
        )
    return point


def adopt_committed_point(job: Job) -> RecoveryPoint | None:
    """The recovery point of a Backup job whose worker died (or lost the database) after the store committed
    its manifest: recorded now if it was not yet, so the portal, retention and GC see what the store holds.
    None when the job never committed one."""
    point_id = point_id_for(job)
    item = ProtectedItem.objects.select_related("vault").filter(pk=job.params.get("protected_item_id")).first()
    if item is None:
        return None
    point = RecoveryPoint.objects.filter(vault_id=item.vault_id, point_id=point_id).first()
    if point is not None:
        return point
    try:
        store = engine.open_store(item.vault.store_location, item.vault.store_options)
        if not store.has_manifest(point_id):
            return None
        manifest = store.load_manifest(point_id)
    except (engine.EngineError, ValueError, OSError):
        return None
    if manifest.item != item.store_item_id:
        return None
    return _record(item, manifest, job)


def adopt_orphan_manifests(vault_id: int) -> list[RecoveryPoint]:
    """Reconcile a vault's store with its recovery points: every manifest a finished Backup job of this vault
    committed but never recorded (its worker was killed between the two) becomes the point it is."""
    vault = Vault.objects.get(pk=vault_id)
    try:
        store = engine.open_store(vault.store_location, vault.store_options)
        manifests = store.list_manifests()
    except (engine.EngineError, OSError):
        return []
    known = set(RecoveryPoint.objects.filter(vault_id=vault_id).values_list("point_id", flat=True))
    job_ids = {
        int(m.point_id[4:]): m
        for m in manifests
        if m.point_id not in known and m.point_id.startswith("job-") and m.point_id[4:].isdigit()
    }
    adopted = []
    finished = Job.objects.filter(pk__in=job_ids, vault_id=vault_id, operation=Operation.BACKUP).exclude(
        status__in=ACTIVE_STATUSES
    )  # a running job records its own point
    for job in finished:
        point = adopt_committed_point(job)
        if point is not None:
            adopted.append(point)
    return adopted


def mark_backup_failed(item_id: int) -> None:
    """After a failed backup the item reads "Protected (backup failing)" until a backup succeeds."""
    ProtectedItem.objects.filter(pk=item_id).exclude(status=ProtectedItem.Status.STOPPED).update(
        status=ProtectedItem.Status.BACKUP_FAILING, last_backup_status="failed"
    )
