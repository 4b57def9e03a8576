"""Approval requests for the operations a resource guard protects, and the audit log they write."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backup.jobs.asking import request_reason
from backup.jobs.errors import Refused
from backup.tenancy.models import Membership, Subscription

from .models import ApprovalRequest, AuditEvent, GuardedOperation, ResourceGuard

MAX_REASON = 500
APPROVAL_NEEDED = (
    "{operation} of '{name}' is protected by the resource guard '{guard}' - A member of '{group}' must approve "
    "it first. Request {id} is waiting for approval; once it is approved, repeat the operation with request {id} "
    "within {minutes} minutes."
)
NEEDS_REQUEST = (
    "{operation} of '{name}' is protected by the resource guard '{guard}' - A member of '{group}' must approve "
    "it first: request the approval, with your reason."
)
NO_REQUESTER = (
    "{operation} of '{name}' is protected by the resource guard '{guard}' - Only a signed-in user can "
    "request it, so that a member of the guard's role can approve the request."
)
NO_SUCH_REQUEST = "Request {id} does not exist."
NOT_YOUR_REQUEST = "Request {id} was made by another user; only its requester can use it."
OTHER_OPERATION = "Request {id} is for {operation} of '{name}', not for this operation."
STILL_PENDING = "Request {id} is still waiting for approval by a member of '{group}'."
WAS_REJECTED = "Request {id} was rejected by {who}: {reason}"
WAS_USED = "Request {id} was already used on {when:%Y-%m-%d %H:%M} UTC - Make a new request."
APPROVAL_EXPIRED = "The approval of request {id} expired on {when:%Y-%m-%d %H:%M} UTC - Make a new request."
NOT_APPROVER = "Only a member of '{group}', the role of the resource guard '{guard}', can decide request {id}."
OWN_REQUEST = "You cannot approve or reject your own request."
MEMBER_APPROVER = (
    "Request {id} cannot be decided by a member of the subscription '{subscription}' - The resource "
    "guard's role must be held by someone outside it."
)
REASON_NEEDED = "Give the reason for your decision."
NOT_PENDING = "Request {id} is {status}; only a request waiting for approval can be decided."


class ApprovalRequired(Refused):
    """Refused until a member of the guard's role approves `request` (None: none was recorded yet, see
    backup.jobs.asking)."""

    def __init__(self, message: str, request: ApprovalRequest | None) -> None:
        super().__init__(message, code="ApprovalRequired")
        self.request = request


def approval_lifetime() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "GUARD_APPROVAL_LIFETIME_S", 3600)))


def guard_for(subscription: Subscription | int | None) -> ResourceGuard | None:
    if subscription is None:
        return None
    pk = subscription if isinstance(subscription, int) else subscription.pk
    return ResourceGuard.objects.select_related("security_group").filter(subscription_id=pk).first()


def is_security_member(user, subscription: Subscription | int) -> bool:
    """Holds the subscription's security role: a member of its guard's group (the superusers while it has none)."""
    if user is None or not user.is_authenticated:
        return False
    guard = guard_for(subscription)
    if guard is None:
        return bool(user.is_superuser)
    return user.groups.filter(pk=guard.security_group_id).exists()


def audit(
    kind: str,
    *,
    subscription_id: int,
    actor=None,
    request: ApprovalRequest | None = None,
    vault_id: int | None = None,
    operation: str = "",
    target: str = "",
    detail: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=kind,
        subscription_id=subscription_id,
        actor=actor,
        request=request,
        vault_id=vault_id,
        operation=operation,
        target=target,
        detail=detail[:2000],
    )


def require_approval(
    user,
    subscription: Subscription | int,
    operation: str,
    target: str,
    *,
    target_name: str = "",
    vault_id: int | None = None,
    params: dict | None = None,
    request_id: int | str | None = None,
) -> ApprovalRequest | None:
    """Call just before a critical operation runs. Returns None when no guard protects it, else the approved
    request this run uses up (the caller then runs the operation). Raises ApprovalRequired with a new (or the
    still pending) request without an approval, and Refused for a request id that cannot be used here."""
    guard = guard_for(subscription)
    if guard is None or not guard.protects(operation):
        return None
    label = GuardedOperation(operation).label
    name = target_name or target
    if user is None or not user.is_authenticated:
        raise Refused(NO_REQUESTER.format(operation=label, name=name, guard=guard.name), code="ApprovalRequired")
    request: ApprovalRequest | None
    if request_id not in (None, ""):
        request = _named_request(guard, user, operation, target, request_id)
    else:
        request = _usable_request(guard, user, operation, target)
    if request is None:
        reason = request_reason()
        pending = _existing_pending(guard, user, operation, target)
        if reason == "" and pending is None:
            raise ApprovalRequired(
                NEEDS_REQUEST.format(operation=label, name=name, guard=guard.name, group=guard.security_group.name),
                None,
            )
        request = pending or _pending_request(guard, user, operation, target, name, vault_id, params or {}, reason)
        raise ApprovalRequired(
            APPROVAL_NEEDED.format(
                operation=label,
                name=name,
                guard=guard.name,
                group=guard.security_group.name,
                id=request.pk,
                minutes=int(approval_lifetime().total_seconds() // 60),
            ),
            request,
        )
    with transaction.atomic():
        now = timezone.now()
        if not ApprovalRequest.objects.filter(
            pk=request.pk, status=ApprovalRequest.Status.APPROVED, expires_at__gt=now
        ).update(status=ApprovalRequest.Status.USED, used_at=now):
            raise Refused(WAS_USED.format(id=request.pk, when=now), code="ApprovalUsed")
        audit(
            AuditEvent.Kind.PERFORMED,
            subscription_id=guard.subscription_id,
            actor=user,
            request=request,
            vault_id=vault_id,
            operation=operation,
            target=target,
            detail=f"{label} of '{name}' ran.",
        )
    return request


def require_vault_approval(
    user, vault, operation: str, *, request_id: int | str | None = None, detail: str = ""
) -> ApprovalRequest | None:
    """A vault-wide operation (disable soft delete, disable or unlock immutability, delete the vault): the
    approval is for this operation on this vault; `detail` tells two changes of one setting apart."""
    return require_approval(
        user,
        vault.subscription_id,
        operation,
        f"vault:{vault.pk}{':' + detail if detail else ''}",
        target_name=vault.name,
        vault_id=vault.pk,
        request_id=request_id,
    )


def _named_request(guard: ResourceGuard, user, operation: str, target: str, request_id) -> ApprovalRequest:
    request = (
        ApprovalRequest.objects.filter(guard=guard, pk=int(request_id)).first() if str(request_id).isdigit() else None
    )
    if request is None:
        raise Refused(NO_SUCH_REQUEST.format(id=request_id), code="ApprovalNotFound", field="approval_request")
    if request.requested_by_id != getattr(user, "pk", None):
        raise Refused(NOT_YOUR_REQUEST.format(id=request.pk), code="ApprovalNotYours", field="approval_request")
    if request.operation != operation or request.target != target:
        raise Refused(
            OTHER_OPERATION.format(
                id=request.pk, operation=request.get_operation_display(), name=request.target_name or request.target
            ),
            code="ApprovalForAnotherOperation",
            field="approval_request",
        )
    if request.status == ApprovalRequest.Status.PENDING:
        raise Refused(STILL_PENDING.format(id=request.pk, group=guard.security_group.name), code="ApprovalPending")
    if request.status == ApprovalRequest.Status.REJECTED:
        raise Refused(
            WAS_REJECTED.format(id=request.pk, who=request.decided_by, reason=request.decision_reason),
            code="ApprovalRejected",
        )
    if request.status == ApprovalRequest.Status.USED:
        raise Refused(WAS_USED.format(id=request.pk, when=request.used_at), code="ApprovalUsed")
    if request.expired:
        raise Refused(APPROVAL_EXPIRED.format(id=request.pk, when=request.expires_at), code="ApprovalExpired")
    return request


def _usable_request(guard: ResourceGuard, user, operation: str, target: str) -> ApprovalRequest | None:
    """The requester's approved, unexpired request for exactly this: what a portal form or admin action uses."""
    return (
        ApprovalRequest.objects.filter(
            guard=guard,
            requested_by=user,
            operation=operation,
            target=target,
            status=ApprovalRequest.Status.APPROVED,
            expires_at__gt=timezone.now(),
        )
        .order_by("decided_at")
        .first()
    )


def _existing_pending(guard: ResourceGuard, user, operation: str, target: str) -> ApprovalRequest | None:
    return ApprovalRequest.objects.filter(
        guard=guard, requested_by=user, operation=operation, target=target, status=ApprovalRequest.Status.PENDING
    ).first()


def _pending_request(
    guard: ResourceGuard,
    user,
    operation: str,
    target: str,
    name: str,
    vault_id: int | None,
    params: dict,
    reason: str | None,
) -> ApprovalRequest:
    # Called outside any transaction of the operation: the request and its entry stay although it is refused.
    with transaction.atomic():
        request = ApprovalRequest.objects.create(
            guard=guard,
            operation=operation,
            target=target,
            target_name=name[:200],
            vault_id=vault_id,
            params=params,
            requested_by=user,
            reason=reason or "",
        )
        audit(
            AuditEvent.Kind.REQUESTED,
            subscription_id=guard.subscription_id,
            actor=user,
            request=request,
            vault_id=vault_id,
            operation=operation,
            target=target,
            detail=f"{GuardedOperation(operation).label} of '{name}' requested" + (f": {reason}" if reason else "."),
        )
    return request


def decide(request: ApprovalRequest, user, *, approve: bool, reason: str) -> ApprovalRequest:
    """Approve (good for one run within the approval lifetime) or reject a pending request."""
    guard = request.guard
    reason = (reason or "").strip()
    if not user.groups.filter(pk=guard.security_group_id).exists():
        raise Refused(
            NOT_APPROVER.format(group=guard.security_group.name, guard=guard.name, id=request.pk), code="NotApprover"
        )
    if request.requested_by_id == user.pk:
        raise Refused(OWN_REQUEST, code="OwnRequest")
    if Membership.objects.filter(subscription_id=guard.subscription_id, user=user).exists():
        raise Refused(MEMBER_APPROVER.format(id=request.pk, subscription=guard.subscription), code="MemberApprover")
    if not reason:
        raise Refused(REASON_NEEDED, code="ReasonNeeded", field="reason")
    if len(reason) > MAX_REASON:
        raise Refused(f"At most {MAX_REASON} characters.", code="ReasonTooLong", field="reason")
    now = timezone.now()
    status = ApprovalRequest.Status.APPROVED if approve else ApprovalRequest.Status.REJECTED
    with transaction.atomic():
        if not ApprovalRequest.objects.filter(pk=request.pk, status=ApprovalRequest.Status.PENDING).update(
            status=status,
            decided_by=user,
            decided_at=now,
            decision_reason=reason,
            expires_at=now + approval_lifetime() if approve else None,
        ):
            request.refresh_from_db()
            raise Refused(NOT_PENDING.format(id=request.pk, status=request.status_display.lower()), code="NotPending")
        request.refresh_from_db()
        audit(
            AuditEvent.Kind.APPROVED if approve else AuditEvent.Kind.REJECTED,
            subscription_id=guard.subscription_id,
            actor=user,
            request=request,
            vault_id=request.vault_id,
            operation=request.operation,
            target=request.target,
            detail=reason,
        )
    return request


def awaiting_decision(user):
    """The pending requests this user may decide: of the guards whose role they hold, not their own."""
    if not user.is_authenticated:
        return ApprovalRequest.objects.none()
    return ApprovalRequest.objects.filter(
        guard__security_group__user=user, status=ApprovalRequest.Status.PENDING
    ).exclude(requested_by=user)


def requests_for(user):
    """The requests a user may see: their own, and those of the guards whose role they hold."""
    if not user.is_authenticated:
        return ApprovalRequest.objects.none()
    return ApprovalRequest.objects.filter(Q(requested_by=user) | Q(guard__security_group__user=user)).distinct()
