"""Operators' operations on a vault's backup data: its recovery points, Verify and garbage collection.

POST /vaults/{id}/verify, POST /recovery-points/{id}/verify and POST /vaults/{id}/gc start jobs (202). They
have no page: the admin actions (admin_operations.py) and the CLI (`manage.py backup verify|gc`) start the
same jobs.
"""

from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from ninja import Router, Schema, Status

from backup.jobs.api import JobOut, job_out
from backup.tenancy.api_errors import ErrorOut, conflict
from backup.vaults.access import get_vault_for_user

from ..access import get_recovery_point_for_user
from ..models import RecoveryPoint
from ..services import operations

router = Router(tags=["operations"])


class RecoveryPointOut(Schema):
    id: int
    vault_id: int
    protected_item_id: int | None
    vm_name: str
    point_id: str
    created_at: datetime
    consistency: str
    logical_bytes: int
    bytes_transferred: int
    on_demand: bool
    verify_state: str  # "" (not verified yet), "ok" or "failed"
    verified_at: datetime | None
    damaged: bool
    damaged_disks: list[str]
    damaged_at: datetime | None
    suspicious: str = ""


def point_out(point: RecoveryPoint) -> dict:
    return {
        "id": point.pk,
        "vault_id": point.vault_id,
        "protected_item_id": point.protected_item_id,
        "vm_name": point.vm_name,
        "point_id": point.point_id,
        "created_at": point.created_at,
        "consistency": point.consistency,
        "logical_bytes": point.logical_bytes,
        "bytes_transferred": point.bytes_transferred,
        "on_demand": point.on_demand,
        "verify_state": point.verify_state,
        "verified_at": point.verified_at,
        "damaged": point.is_damaged,
        "damaged_disks": point.damaged_disks,
        "damaged_at": point.damaged_at,
        "suspicious": _suspicion(point),
    }


def _suspicion(point: RecoveryPoint) -> str:
    """The anomaly's state ("suspicious", "confirmed", "dismissed"), or "" for a point nothing was found in."""
    try:
        return point.anomaly.state
    except ObjectDoesNotExist:
        return ""


@router.get(
    "/vaults/{vault_id}/recovery-points",
    response=list[RecoveryPointOut],
    operation_id="backup_vms_api_operations_list_recovery_points",
)
def list_recovery_points(request, vault_id: int, protected_item_id: int | None = None):
    vault = get_vault_for_user(request.auth, vault_id)
    points = vault.recovery_points.select_related("anomaly").order_by("-created_at", "-id")
    if protected_item_id is not None:
        points = points.filter(protected_item_id=protected_item_id)
    return [point_out(p) for p in points]


@router.post(
    "/vaults/{vault_id}/verify",
    response={202: JobOut, 409: ErrorOut},
    operation_id="backup_vms_api_operations_verify_vault",
)
def verify_vault(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        return Status(202, job_out(operations.start_verify(vault, user=request.auth)))
    except ValidationError as refusal:
        return conflict(refusal)


@router.post(
    "/recovery-points/{point_id}/verify",
    response={202: JobOut, 409: ErrorOut},
    operation_id="backup_vms_api_operations_verify_recovery_point",
)
def verify_recovery_point(request, point_id: int):
    point = get_recovery_point_for_user(request.auth, point_id)
    try:
        return Status(202, job_out(operations.start_verify(point.vault, user=request.auth, point=point)))
    except ValidationError as refusal:
        return conflict(refusal)


@router.post(
    "/vaults/{vault_id}/gc",
    response={202: JobOut, 409: ErrorOut},
    operation_id="backup_vms_api_operations_collect_garbage",
)
def collect_garbage(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        return Status(202, job_out(operations.start_gc_now(vault, user=request.auth)))
    except ValidationError as refusal:
        return conflict(refusal)
