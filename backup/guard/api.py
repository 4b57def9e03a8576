"""Approval requests in the API: a guarded operation answers 403 with the request to approve; the security
role's members list, approve and reject requests here.

    GET  /approval-requests                 the caller's own requests and those of the guards whose role they hold
    POST /approval-requests/{id}/approve    {reason}
    POST /approval-requests/{id}/reject     {reason}
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from backup.tenancy.api_errors import ErrorOut, bad_request

from . import services
from .models import ApprovalRequest

router = Router(tags=["resource guards"])


class ApprovalRequestOut(Schema):
    id: int
    operation: str
    target: str
    target_name: str
    vault_id: int | None
    requested_by: str
    requested_at: datetime
    reason: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    expires_at: datetime | None
    used_at: datetime | None


class DecisionIn(Schema):
    reason: str = ""


def request_out(request: ApprovalRequest) -> dict:
    return {
        "id": request.pk,
        "operation": request.operation,
        "target": request.target,
        "target_name": request.target_name,
        "vault_id": request.vault_id,
        "requested_by": request.requested_by.get_username(),
        "requested_at": request.requested_at,
        "reason": request.reason,
        "status": request.status_display,
        "decided_by": request.decided_by.get_username() if request.decided_by else None,
        "decided_at": request.decided_at,
        "decision_reason": request.decision_reason,
        "expires_at": request.expires_at,
        "used_at": request.used_at,
    }


@router.get("/approval-requests", response=list[ApprovalRequestOut], operation_id="backup_guard_api_list_requests")
def list_requests(request):
    rows = services.requests_for(request.auth).select_related("requested_by", "decided_by")[:200]
    return [request_out(r) for r in rows]


def _decide(request, request_id: int, payload: DecisionIn, approve: bool):
    approval = get_object_or_404(services.requests_for(request.auth), pk=request_id)
    try:
        return Status(200, request_out(services.decide(approval, request.auth, approve=approve, reason=payload.reason)))
    except ValidationError as error:
        return bad_request(error)


@router.post(
    "/approval-requests/{request_id}/approve",
    response={200: ApprovalRequestOut, 400: ErrorOut},
    operation_id="backup_guard_api_approve",
)
def approve(request, request_id: int, payload: DecisionIn):
    return _decide(request, request_id, payload, True)


@router.post(
    "/approval-requests/{request_id}/reject",
    response={200: ApprovalRequestOut, 400: ErrorOut},
    operation_id="backup_guard_api_reject",
)
def reject(request, request_id: int, payload: DecisionIn):
    return _decide(request, request_id, payload, False)
