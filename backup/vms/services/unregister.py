"""Unregister: removing the backup extension and the registration of an item with no protection and no data."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from backup.fabric import agents
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed
from backup.jobs.locks import Subject
from backup.jobs.models import Job, JobStatus, Operation
from backup.jobs.registry import handler
from backup.lists import natural_key
from backup.vaults.models import Vault

from ..models import ProtectedItem, RecoveryPoint, RegisteredItem, VirtualMachine

STEP_UNREGISTER = "Remove the Azure Recovery Services extension"


def unregister_problem(item: RegisteredItem) -> str | None:
    """Why the item cannot be unregistered now, or None."""
    if item.status not in (RegisteredItem.Status.REGISTERED, RegisteredItem.Status.FAILED):
        return f"'{item}' is {item.get_status_display().lower()}; only registered items can be unregistered."
    current = ProtectedItem.objects.filter(registered_item=item).select_related("policy").first()
    if current is not None and current.status != ProtectedItem.Status.STOPPED:
        policy = current.policy.name if current.policy else "-"
        return (
            f"'{item}' is protected by the policy '{policy}' - Stop its protection with 'Delete "
            "associated backup data' before unregistering it."
        )
    points = RecoveryPoint.objects.filter(Q(registered_item=item) | Q(protected_item__registered_item=item)).count()
    if current is not None or points:
        return (
            f"'{item}' still has backup data ({points} recovery point{'s' if points != 1 else ''}) - "
            "Delete its backup data (DELETE on the PROTECTED ITEMS tab) before unregistering it."
        )
    return None


def unregistrable_items(vault: Vault) -> list[tuple[RegisteredItem, str | None]]:
    items = sorted(
        vault.registered_items.exclude(status=RegisteredItem.Status.NOT_REGISTERED),
        key=lambda item: (natural_key(item.vm_name), natural_key(item.cloud_service_name)),
    )
    return [(item, unregister_problem(item)) for item in items]


def start_unregister(item: RegisteredItem, *, user=None) -> Job:
    problem = unregister_problem(item)
    if problem:
        raise ValidationError({"__all__": problem})
    with transaction.atomic():
        job = jobs.start(
            subscription=item.vault.subscription,
            operation=Operation.UNREGISTER,
            subject=Subject.of_item(item),
            lock_key=locks.registered_item(item.vm_id, item.pk),
            user=user,
            params={"registered_item_id": item.pk, "previous_status": item.status},
        )
        if job.status == JobStatus.IN_PROGRESS:
            RegisteredItem.objects.filter(pk=item.pk).update(status=RegisteredItem.Status.UNREGISTERING)
    return job


@handler(Operation.UNREGISTER)
def run_unregister(ctx: JobContext) -> None:
    item = RegisteredItem.objects.select_related("vault", "vm").filter(pk=ctx.job.params["registered_item_id"]).first()
    if item is None:
        return  # already gone: nothing left to do
    previous = ctx.job.params.get("previous_status") or RegisteredItem.Status.REGISTERED
    try:
        with ctx.step(STEP_UNREGISTER):
            item.status = previous
            problem = unregister_problem(item)
            if problem:
                raise JobFailed(problem, "Remove the item's protection and backup data first.", code="ItemInUse")
            if item.vm is not None:
                agents.remove_backup_extension(item.vm.spec())
            with transaction.atomic():
                if item.vm_id is not None:
                    VirtualMachine.objects.filter(pk=item.vm_id).update(backup_extension_installed=False)
                item.delete()
    except BaseException:
        RegisteredItem.objects.filter(pk=item.pk, status=RegisteredItem.Status.UNREGISTERING).update(status=previous)
        raise
