"""Protection: put registered machines under a backup policy (one Configure Protection job each).

A machine belongs to exactly one policy at a time: protecting a machine that is already
protected is refused; one whose protection was stopped may be protected again (its recovery
points stay). The first backup comes from the schedule (or BACK UP NOW), so a newly protected
machine shows "Protected (pending initial backup)".
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.dispatch import receiver
from django.utils import timezone

from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed
from backup.jobs.locks import Subject
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler
from backup.vaults.models import Vault

from ..models import BackupPolicy, PointAnomaly, ProtectedItem, RegisteredItem
from . import policies, reductions
from .discovery import require_active

NOT_REGISTERED = "The virtual machine is no longer registered with this vault."
NOT_REGISTERED_ACTION = "Register the virtual machine again, then configure its protection."
ALREADY_PROTECTED = "The virtual machine is already protected by the policy '{policy}'."
ALREADY_PROTECTED_ACTION = "A virtual machine belongs to one policy at a time; stop its protection first."


def protectable_items(vault: Vault) -> QuerySet[RegisteredItem]:
    """Registered machines of the vault's region that no policy protects: PROTECT's first page."""
    return (
        vault.registered_items.filter(
            status=RegisteredItem.Status.REGISTERED, vm__isnull=False, vm__cloud_service__region=vault.region
        )
        .filter(
            Q(protected_item__isnull=True)
            | Q(protected_item__status=ProtectedItem.Status.STOPPED, protected_item__purge_at__isnull=True)
        )
        .select_related("vm", "vm__cloud_service")
        .order_by("vm_name", "cloud_service_name")
    )


# The TYPE selector of PROTECTED ITEMS: machines of the simulated fabric stand for Azure's, KVM machines run on a host.
ITEM_TYPES = [("", "All types"), ("azure", "Azure Virtual Machine"), ("kvm", "KVM virtual machine")]


def protected_items(vault: Vault, *, kind: str = "") -> QuerySet[ProtectedItem]:
    """PROTECTED ITEMS: every item with its policy, recovery-point count (and how many are damaged) and newest
    point; `kind` keeps one of ITEM_TYPES."""
    items = vault.protected_items.all()
    if kind == "azure":
        items = items.filter(Q(vm__isnull=True) | Q(vm__host__isnull=True))
    elif kind == "kvm":
        items = items.filter(vm__host__isnull=False)
    return (
        items.select_related("policy", "registered_item")
        .annotate(
            point_count=Count("recovery_points"),
            newest_point=Max("recovery_points__created_at"),
            damaged_count=Count("recovery_points", filter=Q(recovery_points__damaged_at__isnull=False)),
            # A subquery, not a Count: a second join would multiply the counts above.
            suspicious=Exists(
                PointAnomaly.objects.filter(protected_item=OuterRef("pk"), state=PointAnomaly.State.SUSPICIOUS)
            ),
        )
        .order_by("vm_name", "cloud_service_name")
    )


def protected_item_rows(vault: Vault) -> list[dict]:
    """PROTECTED ITEMS as the API and the CLI list them."""
    items: Any = protected_items(vault)  # annotated with point_count and newest_point
    return [
        {
            "id": p.pk,
            "vm_id": p.vm_id,
            "name": p.vm_name,
            "cloud_service": p.cloud_service_name,
            "policy_id": p.policy_id,
            "policy": p.policy.name if p.policy else None,
            "status": p.status,
            "status_label": p.status_label,
            "purge_at": p.purge_at,
            "recovery_points": p.point_count,
            "newest_recovery_point": p.newest_point,
        }
        for p in items
    ]


def _chosen_items(vault: Vault, vm_ids) -> list[RegisteredItem]:
    try:
        wanted = {int(pk) for pk in vm_ids}
    except (TypeError, ValueError):
        raise ValidationError({"vm_ids": "Virtual machine ids must be numbers."}) from None
    if not wanted:
        raise ValidationError({"vm_ids": "Choose at least one registered virtual machine to protect."})
    items = list(protectable_items(vault).filter(vm_id__in=wanted))
    missing = wanted - {item.vm_id for item in items}
    if missing:
        protected = (
            vault.protected_items.filter(vm_id__in=missing)
            .exclude(status=ProtectedItem.Status.STOPPED)
            .select_related("policy")
        )
        details = [
            f"{p.vm_name} is already protected by the policy '{p.policy.name if p.policy else '-'}'" for p in protected
        ]
        others = len(missing) - len(details)
        if others:
            details.append(
                f"{others} of the chosen machines are not registered with this vault "
                f"(only registered machines in {vault.region} can be protected)"
            )
        raise ValidationError({"vm_ids": "; ".join(details) + "."})
    return items


def start_protection(vault: Vault, vm_ids, policy: BackupPolicy | None, user=None) -> list[Job]:
    """One Configure Protection job per chosen machine, with an existing policy of the vault."""
    require_active(vault)
    if policy is None or policy.vault_id != vault.pk:
        raise ValidationError({"policy_id": "Choose one of this vault's backup policies."})
    items = _chosen_items(vault, vm_ids)
    _refuse_moves(items, policy)
    with transaction.atomic():
        return [_start_job(vault, item, policy, user) for item in items]


def _refuse_moves(items: list[RegisteredItem], policy) -> None:
    """An immutable vault refuses putting a stopped item's kept points under a policy that keeps less."""
    for item in items:
        current = ProtectedItem.objects.filter(registered_item=item).select_related("policy", "vault").first()
        if current is not None:
            reductions.refuse_policy_move(current, policy)


def protect_with_new_policy(vault: Vault, vm_ids, policy_data: dict, user=None) -> tuple[BackupPolicy, list[Job]]:
    """Define a new policy and protect the machines with it, all or nothing."""
    require_active(vault)
    items = _chosen_items(vault, vm_ids)
    with transaction.atomic():
        policy = policies.create_policy(vault, policy_data)
        _refuse_moves(items, policy)
        return policy, [_start_job(vault, item, policy, user) for item in items]


def reconfigure_protection(policy: BackupPolicy, user=None) -> list[Job]:
    """A Configure Protection job for every machine the (edited) policy protects."""
    items = RegisteredItem.objects.filter(protected_item__policy=policy).exclude(
        protected_item__status=ProtectedItem.Status.STOPPED
    )
    return [_start_job(policy.vault, item, policy, user, reconfigure=True) for item in items]


@receiver(policies.policy_changed)
def _reapply_changed_policy(sender, policy: BackupPolicy, user=None, **kwargs) -> None:
    reconfigure_protection(policy, user)


def _start_job(vault: Vault, item: RegisteredItem, policy: BackupPolicy, user, reconfigure: bool = False) -> Job:
    return jobs.start(
        subscription=vault.subscription,
        operation=Operation.CONFIGURE_PROTECTION,
        subject=Subject.of_item(item),
        lock_key=locks.vm(item.vm_id),
        user=user,
        params={
            "registered_item_id": item.pk,
            "policy_id": policy.pk,
            "policy_name": policy.name,
            "reconfigure": reconfigure,
        },
    )


@handler(Operation.CONFIGURE_PROTECTION)
def configure_protection(ctx: JobContext) -> None:
    """The Configure Protection job: attach the machine to the policy."""
    params = ctx.job.params
    item = RegisteredItem.objects.select_related("vault", "vm").get(pk=params["registered_item_id"])
    with ctx.step("Configure protection"):
        if item.status != RegisteredItem.Status.REGISTERED or item.vm is None:
            raise JobFailed(NOT_REGISTERED, NOT_REGISTERED_ACTION, "ItemNotRegistered")
        policy = BackupPolicy.objects.filter(pk=params["policy_id"], vault=item.vault).first()
        if policy is None:
            raise JobFailed(
                "The backup policy no longer exists.",
                "Choose another policy and protect the machine again.",
                "PolicyNotFound",
            )
        with transaction.atomic():
            current = ProtectedItem.objects.select_for_update().filter(registered_item=item).first()
            if params.get("reconfigure") and current is not None and current.policy_id == policy.pk:
                ctx.show({"Policy": policy.name, "Re-applied": "yes"})
                return
            if current is not None and current.status != ProtectedItem.Status.STOPPED:
                name = current.policy.name if current.policy else "-"
                raise JobFailed(ALREADY_PROTECTED.format(policy=name), ALREADY_PROTECTED_ACTION, "AlreadyProtected")
            has_points = current is not None and current.recovery_points.exists()
            ProtectedItem.objects.update_or_create(
                registered_item=item,
                defaults={
                    "vault": item.vault,
                    "vm": item.vm,
                    "vm_name": item.vm_name,
                    "cloud_service_name": item.cloud_service_name,
                    "policy": policy,
                    "status": ProtectedItem.Status.PROTECTED if has_points else ProtectedItem.Status.PENDING,
                    "protected_at": timezone.now(),
                    "stopped_at": None,
                },
            )
    ctx.show({"Policy": policy.name})
