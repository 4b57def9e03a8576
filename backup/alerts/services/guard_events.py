"""The resource guard's events as security alerts: a request for an approval, its approval or rejection, an
approval that expired unused (found by the `evaluate-alerts` check), and any change to a guard itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from backup.guard.models import ApprovalRequest, AuditEvent, GuardedOperation, ResourceGuard
from backup.vaults.models import Vault

from ..models import Alert, Kind
from .incidents import raise_alert

DECISIONS: dict[str, str] = {
    AuditEvent.Kind.REQUESTED: Kind.APPROVAL_REQUESTED,
    AuditEvent.Kind.APPROVED: Kind.APPROVAL_GRANTED,
    AuditEvent.Kind.REJECTED: Kind.APPROVAL_REJECTED,
}
# How far back the check looks for expired approvals: each is alerted on once, the check runs every minute.
EXPIRY_LOOKBACK = timedelta(days=7)


def request_key(request: ApprovalRequest) -> str:
    return f"approval-request:{request.pk}"


def _describe(request: ApprovalRequest) -> str:
    return f"Request {request.pk}: {request.get_operation_display()} of '{request.target_name or request.target}'"


def _message(event: AuditEvent, request: ApprovalRequest) -> str:
    who = event.actor.get_username() if event.actor else "someone"
    if event.kind == AuditEvent.Kind.REQUESTED:
        group = request.guard.security_group.name
        why = f" Reason: {request.reason}" if request.reason else ""
        return f"{_describe(request)}, asked by {who}, waits for the approval of a member of '{group}'.{why}"
    verb = "approved" if event.kind == AuditEvent.Kind.APPROVED else "rejected"
    until = f" It can be used once until {request.expires_at:%Y-%m-%d %H:%M} UTC." if request.expires_at else ""
    return f"{_describe(request)} was {verb} by {who}: {request.decision_reason}.{until}"


def _vault_id(request: ApprovalRequest) -> int | None:
    # The request keeps the vault's id after the vault is gone; the alert names only a vault that exists.
    if request.vault_id and Vault.objects.filter(pk=request.vault_id).exists():
        return request.vault_id
    return None


@receiver(post_save, sender=AuditEvent)
def _approval_event(sender, instance: AuditEvent, created: bool, **kwargs) -> None:
    kind = DECISIONS.get(instance.kind)
    if not created or kind is None or instance.request_id is None:
        return
    request = ApprovalRequest.objects.select_related("guard__security_group").get(pk=instance.request_id)
    message = _message(instance, request)
    transaction.on_commit(
        lambda: raise_alert(
            subscription_id=instance.subscription_id,
            vault_id=_vault_id(request),
            kind=kind,
            item_key=request_key(request),
            item_name=request.target_name or request.target,
            operation="Resource guard",
            message=message,
        )
    )


def check_expired_approvals(now: datetime | None = None) -> int:
    """Raise approval expired for each approval that ran out unused (once per request); returns how many."""
    now = now or timezone.now()
    expired = ApprovalRequest.objects.filter(
        status=ApprovalRequest.Status.APPROVED, expires_at__lte=now, expires_at__gt=now - EXPIRY_LOOKBACK
    ).select_related("guard")
    raised = 0
    for request in expired:
        if Alert.objects.filter(kind=Kind.APPROVAL_EXPIRED, item_key=request_key(request)).exists():
            continue
        raise_alert(
            subscription_id=request.guard.subscription_id,
            vault_id=_vault_id(request),
            kind=Kind.APPROVAL_EXPIRED,
            item_key=request_key(request),
            item_name=request.target_name or request.target,
            operation="Resource guard",
            message=f"{_describe(request)} was approved by {request.decided_by} but not used before "
            f"{request.expires_at:%Y-%m-%d %H:%M} UTC; a new request is needed to run it.",
            repeat=False,
        )
        raised += 1
    return raised


def _labels(operations) -> str:
    return ", ".join(GuardedOperation(o).label.lower() for o in operations if o in GuardedOperation.values) or "nothing"


@receiver(pre_save, sender=ResourceGuard)
def _remember_guard(sender, instance: ResourceGuard, **kwargs) -> None:
    before = ResourceGuard.objects.filter(pk=instance.pk).select_related("security_group").first()
    instance._before = before  # type: ignore[attr-defined]  # read by _guard_saved


def _guard_changes(guard: ResourceGuard, before: ResourceGuard | None) -> list[str]:
    if before is None:
        return [
            f"The resource guard '{guard.name}' now protects {_labels(guard.operations)}, approved by "
            f"members of '{guard.security_group.name}'."
        ]
    changes = []
    dropped = [o for o in before.operations or [] if o not in (guard.operations or [])]
    added = [o for o in guard.operations or [] if o not in (before.operations or [])]
    if dropped:
        changes.append(f"no longer protects {_labels(dropped)}")
    if added:
        changes.append(f"now protects {_labels(added)} too")
    if before.security_group_id != guard.security_group_id:
        changes.append(
            f"is approved by members of '{guard.security_group.name}' instead of '{before.security_group.name}'"
        )
    if before.name != guard.name:
        changes.append(f"was renamed from '{before.name}'")
    return [f"The resource guard '{guard.name}' {'; '.join(changes)}."] if changes else []


def _raise_guard_changed(guard: ResourceGuard, message: str) -> None:
    transaction.on_commit(
        lambda: raise_alert(
            subscription_id=guard.subscription_id,
            vault_id=None,
            kind=Kind.GUARD_CHANGED,
            item_key=f"resource-guard:{guard.subscription_id}",
            item_name=guard.name,
            operation="Resource guard",
            message=message,
        )
    )


@receiver(post_save, sender=ResourceGuard)
def _guard_saved(sender, instance: ResourceGuard, **kwargs) -> None:
    for message in _guard_changes(instance, getattr(instance, "_before", None)):
        _raise_guard_changed(instance, message)


@receiver(post_delete, sender=ResourceGuard)
def _guard_removed(sender, instance: ResourceGuard, **kwargs) -> None:
    _raise_guard_changed(
        instance,
        f"The resource guard '{instance.name}' was removed: its operations no longer need an approval.",
    )
