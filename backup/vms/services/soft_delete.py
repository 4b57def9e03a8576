"""Soft delete of an item's backup data: kept (rows and manifests, held in the engine) until its purge date,
UNDELETE returning it to "Protection stopped", and beat's purge of the items whose date has passed."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from backup import engine
from backup.jobs.models import Job, Operation

from ..models import ProtectedItem
from .item_jobs import item_job
from .stores import open_vault_store

ALREADY_SOFT_DELETED = (
    "The backup data of '{name}' is already soft deleted - It is purged on {date}; UNDELETE "
    "it to restore from it again."
)
NOT_SOFT_DELETED = "The backup data of '{name}' is not soft deleted; there is nothing to undelete."


def soft_delete_item_data(item: ProtectedItem, now=None) -> ProtectedItem:
    """Keep the item's data (rows and manifests) until the vault's period has passed: the engine holds the
    item first, so no prune or delete removes its manifests even if the portal's state were lost."""
    now = now or timezone.now()
    purge_at = now + timedelta(days=item.vault.soft_delete_days)
    engine.hold_item(open_vault_store(item.vault), item.store_item_id, purge_at)
    ProtectedItem.objects.filter(pk=item.pk).update(soft_deleted_at=now, purge_at=purge_at)
    item.soft_deleted_at, item.purge_at = now, purge_at
    return item


def undelete(item: ProtectedItem, *, user=None) -> ProtectedItem:
    """UNDELETE: the item is "Protection stopped" again, every point restorable."""
    if not item.is_soft_deleted:
        raise ValidationError({"__all__": NOT_SOFT_DELETED.format(name=item.vm_name)})
    with transaction.atomic():
        if not ProtectedItem.objects.filter(pk=item.pk, purge_at__isnull=False).update(
            soft_deleted_at=None, purge_at=None
        ):
            raise ValidationError({"__all__": NOT_SOFT_DELETED.format(name=item.vm_name)})
    # The hold goes after the row: a crash in between leaves a hold that only expires, never lost data.
    engine.release_item(open_vault_store(item.vault), item.store_item_id)
    item.soft_deleted_at = item.purge_at = None
    return item


def purge_due_items(now=None) -> list[Job]:
    """Beat: a Delete Backup Data job (purge) for every soft-deleted item whose purge date has passed."""
    due = ProtectedItem.objects.filter(purge_at__lte=now or timezone.now()).select_related("vault__subscription")
    return [
        item_job(
            item,
            Operation.DELETE_BACKUP_DATA,
            user=None,
            params={"protected_item_id": item.pk, "purge": True, "reason": "Soft delete period ended", "comment": ""},
        )
        for item in due.order_by("pk")
    ]
