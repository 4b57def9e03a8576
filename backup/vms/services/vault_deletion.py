"""Delete Vault: refused while anything is left in the vault (items, points, soft-deleted data, running jobs);
otherwise the vault reads Deleting until its job removed the store folder and the rows."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from backup import engine
from backup.guard import services as guard
from backup.guard.models import GuardedOperation
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed, describe
from backup.jobs.locks import Subject
from backup.jobs.models import Job, JobStatus, Operation
from backup.jobs.registry import handler
from backup.vaults import copies
from backup.vaults.models import Vault

from . import discovery, policies
from .item_jobs import clean_text, day_text

VAULT_NOT_EMPTY = (
    "The vault cannot be deleted while it still holds {what}. Stop protection with 'Delete associated backup "
    "data' for every protected item, then unregister every registered item, and try again."
)
VAULT_SOFT_DELETED = (
    "The vault cannot be deleted while it holds soft-deleted backup data ({what}). Soft-deleted items are "
    "purged for good on their purge date; UNDELETE them and delete their data again with soft delete turned off, "
    "or wait until then, and try again."
)
VAULT_BUSY = "The vault cannot be deleted while {count} operation{s} still run{verb} in it ({names})."

STEP_CHECK_EMPTY = "Check the vault is empty"
STEP_DELETE_STORE = "Delete the vault's storage"
STEP_DELETE_VAULT = "Delete the vault"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def vault_contents(vault: Vault) -> list[str]:
    """What stops the vault from being deleted, e.g. ["2 registered items (web01, db01)", "3 recovery points"]."""
    parts = []
    registered = list(discovery.registered_items(vault).order_by("vm_name").values_list("vm_name", flat=True))
    if registered:
        names = ", ".join(registered[:10]) + (", ..." if len(registered) > 10 else "")
        parts.append(f"{_plural(len(registered), 'registered item')} ({names})")
    protected = vault.protected_items.count()
    if protected:
        parts.append(_plural(protected, "protected item"))
    points = vault.recovery_points.count()
    if points:
        parts.append(_plural(points, "recovery point"))
    return parts


def soft_deleted_contents(vault: Vault) -> str:
    """The vault's soft-deleted data, e.g. "2 soft-deleted items (web01, db01), the last purged on 2026-12-15"."""
    items = list(vault.protected_items.filter(purge_at__isnull=False).order_by("purge_at"))
    if not items:
        return ""
    names = ", ".join(i.vm_name for i in items[:10]) + (", ..." if len(items) > 10 else "")
    return f"{_plural(len(items), 'soft-deleted item')} ({names}), the last purged on {day_text(items[-1].purge_at)}"


def vault_deletion_problem(vault: Vault, *, running_job: Job | None = None) -> str | None:
    """Why the vault cannot be deleted now (the DELETE command's message), or None."""
    if vault.status == Vault.Status.DELETING and running_job is None:
        return "The vault is already being deleted."
    if vault.status == Vault.Status.CREATING:
        return "The vault is still being created; wait until it is Active."
    soft_deleted = soft_deleted_contents(vault)
    if soft_deleted:
        return VAULT_SOFT_DELETED.format(what=soft_deleted)
    contents = vault_contents(vault)
    if contents:
        return VAULT_NOT_EMPTY.format(what=", ".join(contents))
    busy = Job.objects.active().filter(vault_id=vault.pk)
    if running_job is not None:
        busy = busy.exclude(pk=running_job.pk)
    names = sorted({job.get_operation_display() for job in busy})
    if names:
        count = busy.count()
        return VAULT_BUSY.format(
            count=count, s="" if count == 1 else "s", verb="s" if count == 1 else "", names=", ".join(names)
        )
    return None


def start_delete_vault(vault: Vault, *, user=None, reason: str = "", approval: int | str | None = None) -> Job:
    reason = clean_text(reason, "reason")
    problem = vault_deletion_problem(vault)
    if problem:
        raise ValidationError({"__all__": problem})
    guard.require_vault_approval(user, vault, GuardedOperation.DELETE_VAULT, request_id=approval)
    with transaction.atomic():
        job = jobs.start(
            subscription=vault.subscription,
            operation=Operation.DELETE_VAULT,
            subject=Subject.of_vault(vault),
            lock_key=locks.vault_delete(vault.pk),
            user=user,
            params={"reason": reason, "previous_status": vault.status},
        )
        if job.status == JobStatus.IN_PROGRESS:
            Vault.objects.filter(pk=vault.pk).update(status=Vault.Status.DELETING, status_reason="")
    return job


@handler(Operation.DELETE_VAULT)
def run_delete_vault(ctx: JobContext) -> None:
    vault = Vault.objects.filter(pk=ctx.job.vault_id).first() if ctx.job.vault_id is not None else None
    if vault is None:
        return  # deleted by an earlier attempt
    previous = ctx.job.params.get("previous_status") or Vault.Status.ACTIVE
    try:
        with ctx.step(STEP_CHECK_EMPTY):
            problem = vault_deletion_problem(vault, running_job=ctx.job)
            if problem:
                raise JobFailed(problem, "Empty the vault, then delete it again.", code="VaultNotEmpty")
    except BaseException:
        Vault.objects.filter(pk=vault.pk, status=Vault.Status.DELETING).update(status=previous)
        raise
    try:
        with ctx.step(STEP_DELETE_STORE):
            copies.destroy_copies(vault)
    except (engine.EngineError, OSError) as error:
        Vault.objects.filter(pk=vault.pk).update(
            status=Vault.Status.FAILED, status_reason=f"Its storage could not be deleted: {describe(error)}"
        )
        raise JobFailed(
            f"The vault's storage could not be deleted: {describe(error)}",
            "Delete the vault again.",
            code="VaultStorageNotDeleted",
        ) from None
    with ctx.step(STEP_DELETE_VAULT):
        for policy in vault.policies.all():
            policies.delete_policy(policy)  # also removes its schedule
        vault.delete()
    ctx.show({"Vault": vault.name})
