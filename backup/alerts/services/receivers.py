"""Where alerts come from: the end of jobs (backup, restore and verify failures and their recovery, deleted
data), policy changes that keep less, and changes to a vault's safeguards (soft delete, immutability)."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver

from backup.jobs.models import Job, JobStatus, Operation
from backup.jobs.signals import job_finished
from backup.vaults.safeguards import security_event
from backup.vms.models import BackupPolicy, PointAnomaly, ProtectedItem
from backup.vms.services.anomaly import anomaly_decided
from backup.vms.services.reductions import retention_reductions

from ..models import Kind
from . import checks
from .incidents import raise_alert, resolve
from .job_failures import FAILURE_KINDS, job_item_key, raise_for_job


@receiver(job_finished)
def _job_finished(sender, job: Job, **kwargs) -> None:
    key = job_item_key(job)
    kind = FAILURE_KINDS.get(job.operation)
    if kind is not None and job.status == JobStatus.FAILED:
        raise_for_job(job, kind, job.error_message)
    elif kind is not None and job.status == JobStatus.COMPLETED:
        done = f"The {job.get_operation_display()} job {job.pk} completed."
        resolve(kind=kind, item_key=key, subscription_id=job.subscription_id, resolution=done)
        if job.operation == Operation.BACKUP:
            resolve(
                kind=Kind.STALE_PROTECTION,
                item_key=key,
                subscription_id=job.subscription_id,
                resolution=f"A new recovery point was made by the Backup job {job.pk}.",
            )
    if job.operation in (Operation.VERIFY, Operation.RESTORE) and job.vault_id is not None:
        checks.check_damage(job.vault_id)
    if job.status != JobStatus.COMPLETED:
        return
    if job.operation == Operation.BACKUP:
        _raise_for_suspicious_point(job)
    who = job.created_by.get_username() if job.created_by else "the portal"
    if job.operation == Operation.DELETE_BACKUP_DATA and job.params.get("purge"):
        return  # the end of a soft delete already alerted on
    kept = ProtectedItem.objects.filter(pk=job.params.get("protected_item_id"), purge_at__isnull=False).first()
    soft = f" (soft deleted: restorable with UNDELETE until {kept.purge_at:%Y-%m-%d})" if kept else ""
    if job.operation == Operation.DELETE_BACKUP_DATA:
        raise_for_job(
            job, Kind.BACKUP_DATA_DELETED, f"The backup data of '{job.item_name}' was deleted by {who}{soft}."
        )
    elif job.operation == Operation.STOP_PROTECTION:
        for cause in (Kind.BACKUP_FAILED, Kind.STALE_PROTECTION):
            resolve(
                kind=cause,
                item_key=key,
                subscription_id=job.subscription_id,
                resolution="The item's protection was stopped.",
            )
        if job.params.get("delete_data"):
            raise_for_job(
                job,
                Kind.STOPPED_DATA_DELETED,
                f"The protection of '{job.item_name}' was stopped by {who} and its backup data deleted{soft}.",
            )


@receiver(security_event)
def _safeguard_changed(sender, vault, event: str, message: str, **kwargs) -> None:
    raise_alert(
        subscription_id=vault.subscription_id,
        vault_id=vault.pk,
        kind=event,
        item_key=f"vault:{vault.pk}",
        item_name=vault.name,
        operation="Vault properties",
        message=message,
    )


def _raise_for_suspicious_point(job: Job) -> None:
    found = PointAnomaly.objects.filter(point__job_id=job.pk, state=PointAnomaly.State.SUSPICIOUS).first()
    if found is not None:
        raise_alert(
            subscription_id=job.subscription_id,
            vault_id=job.vault_id,
            kind=Kind.SUSPICIOUS_BACKUP,
            item_key=f"recovery-point:{found.point_id}",
            item_name=found.vm_name,
            operation=job.get_operation_display(),
            job_id=job.pk,
            message=f"{found.summary}. The point is marked suspicious and no older point of the item is "
            "pruned until the security role confirms or dismisses it.",
        )


@receiver(anomaly_decided)
def _anomaly_decided(sender, anomaly: PointAnomaly, **kwargs) -> None:
    resolve(
        kind=Kind.SUSPICIOUS_BACKUP,
        item_key=f"recovery-point:{anomaly.point_id}",
        resolution=f"{anomaly.get_state_display()} by {anomaly.decided_by}: {anomaly.decision_reason}",
    )


@receiver(pre_save, sender=BackupPolicy)
def _policy_saved(sender, instance: BackupPolicy, **kwargs) -> None:
    if instance.pk is None:
        return
    old = BackupPolicy.objects.filter(pk=instance.pk).first()
    if old is None:
        return
    less = retention_reductions(old, instance)
    if not less:
        return
    vault = instance.vault
    message = f"The policy '{instance.name}' now keeps less: {'; '.join(less)}."
    transaction.on_commit(
        lambda: raise_alert(
            subscription_id=vault.subscription_id,
            vault_id=vault.pk,
            kind=Kind.RETENTION_REDUCED,
            item_key=f"policy:{instance.pk}",
            item_name=instance.name,
            operation="Policy change",
            message=message,
        )
    )
