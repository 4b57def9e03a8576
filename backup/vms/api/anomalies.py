"""Suspicious recovery points (services/anomaly.py): the security role lists them and confirms or dismisses
each: dismissing ends the hold on the item's older points, confirming an attack keeps it.

    GET  /suspicious-points                  those the caller may see (their subscriptions', or their guards')
    POST /suspicious-points/{id}/confirm     {reason}
    POST /suspicious-points/{id}/dismiss     {reason}
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from backup.tenancy.api_errors import ErrorOut, bad_request

from ..models import PointAnomaly
from ..services import anomaly

router = Router(tags=["restore and manage"])


class AnomalyOut(Schema):
    id: int
    recovery_point_id: int
    vault_id: int
    protected_item_id: int | None
    vm_name: str
    state: str
    changed_share: float
    new_data_ratio: float
    usual_changed_share: float
    usual_new_data_ratio: float
    detected_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    summary: str


class DecisionIn(Schema):
    reason: str = ""


def anomaly_out(found: PointAnomaly) -> dict:
    return {
        "id": found.pk,
        "recovery_point_id": found.point_id,
        "vault_id": found.vault_id,
        "protected_item_id": found.protected_item_id,
        "vm_name": found.vm_name,
        "state": found.state,
        "changed_share": found.changed_share,
        "new_data_ratio": found.new_data_ratio,
        "usual_changed_share": found.usual_changed_share,
        "usual_new_data_ratio": found.usual_new_data_ratio,
        "detected_at": found.detected_at,
        "decided_by": found.decided_by.get_username() if found.decided_by else None,
        "decided_at": found.decided_at,
        "decision_reason": found.decision_reason,
        "summary": found.summary,
    }


@router.get("/suspicious-points", response=list[AnomalyOut], operation_id="backup_vms_api_list_suspicious_points")
def list_suspicious(request):
    return [anomaly_out(a) for a in anomaly.anomalies_for(request.auth).select_related("decided_by")[:500]]


def _decide(request, anomaly_id: int, payload: DecisionIn, confirm: bool):
    found = get_object_or_404(anomaly.anomalies_for(request.auth), pk=anomaly_id)
    try:
        return Status(200, anomaly_out(anomaly.decide(found, request.auth, confirm=confirm, reason=payload.reason)))
    except ValidationError as error:
        return bad_request(error)


@router.post(
    "/suspicious-points/{anomaly_id}/confirm",
    response={200: AnomalyOut, 400: ErrorOut},
    operation_id="backup_vms_api_confirm_suspicious_point",
)
def confirm(request, anomaly_id: int, payload: DecisionIn):
    return _decide(request, anomaly_id, payload, True)


@router.post(
    "/suspicious-points/{anomaly_id}/dismiss",
    response={200: AnomalyOut, 400: ErrorOut},
    operation_id="backup_vms_api_dismiss_suspicious_point",
)
def dismiss(request, anomaly_id: int, payload: DecisionIn):
    return _decide(request, anomaly_id, payload, False)
