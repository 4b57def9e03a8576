"""What the protection-managing jobs share: starting a job locked on its protected item's machine, the
length check of a request's reason and comment, and how a purge date reads."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.locks import Subject
from backup.jobs.models import Job

from ..models import ProtectedItem

MAX_REASON = 500


def item_job(item: ProtectedItem, operation: str, *, user, params: dict) -> Job:
    return jobs.start(
        subscription=item.vault.subscription,
        operation=operation,
        subject=Subject.of_item(item),
        lock_key=locks.protected_item(item.vm_id, item.pk),
        user=user,
        params=params,
    )


def clean_text(value: str, field: str) -> str:
    value = (value or "").strip()
    if len(value) > MAX_REASON:
        raise ValidationError({field: f"At most {MAX_REASON} characters."})
    return value


def day_text(moment) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "-"
