"""Alerts about a job: which failed operations raise which alert kind, and the item key a job's alerts
are raised (and later resolved) under. Shared by the end-of-job receivers and the periodic check that
catches failures a killed worker never raised."""

from __future__ import annotations

from backup.jobs.models import Job, Operation

from ..models import Kind
from .incidents import raise_alert

FAILURE_KINDS: dict[str, str] = {
    Operation.BACKUP: Kind.BACKUP_FAILED,
    Operation.RESTORE: Kind.RESTORE_FAILED,
    Operation.VERIFY: Kind.VERIFY_FAILED,
    Operation.DRILL: Kind.DRILL_FAILED,
}


def job_item_key(job: Job) -> str:
    if job.item_id is None and job.params.get("protected_item_id"):
        return f"protected-item:{job.params['protected_item_id']}"
    return f"{job.item_type}:{job.item_id}"


def raise_for_job(job: Job, kind: str, message: str) -> None:
    raise_alert(
        subscription_id=job.subscription_id,
        vault_id=job.vault_id,
        kind=kind,
        item_key=job_item_key(job),
        item_name=job.item_name,
        operation=job.get_operation_display(),
        job_id=job.pk,
        message=message,
    )
