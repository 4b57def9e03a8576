"""Vault > POLICIES: list, create, read, change and delete backup policies."""

from datetime import time

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup import engine
from backup.tenancy.api_errors import ApprovalNeededOut, ErrorOut, bad_request, refused
from backup.vaults.access import get_vault_for_user

from .. import access
from ..models import BackupPolicy
from ..services import policies

router = Router(tags=["virtual machines"])


class PolicyIn(Schema):
    name: str = ""
    frequency: str = "daily"
    days_of_week: list[int] = []
    time_of_day: str = "22:00"
    timezone: str = "UTC"
    daily_retention_days: int | None = None
    weekly_retention_weeks: int | None = None
    monthly_retention_months: int | None = None
    yearly_retention_years: int | None = None
    # The days the long-term rules keep: weekdays 0 (Monday) to 6 (Sunday); formats "day" or "week";
    # days of the month 1-28 or "Last"; weeks "First" to "Fourth" or "Last"; months 1-12.
    weekly_retention_days: list[int] = []
    monthly_retention_format: str = ""
    monthly_retention_days_of_month: list[int | str] = []
    monthly_retention_weeks_of_month: list[str] = []
    monthly_retention_days_of_week: list[int] = []
    yearly_retention_format: str = ""
    yearly_retention_months: list[int | str] = []
    yearly_retention_days_of_month: list[int | str] = []
    yearly_retention_weeks_of_month: list[str] = []
    yearly_retention_days_of_week: list[int] = []


class PolicyOut(Schema):
    id: int
    name: str
    frequency: str
    days_of_week: list[int]
    time_of_day: time
    timezone: str
    daily_retention_days: int | None
    weekly_retention_weeks: int | None
    monthly_retention_months: int | None
    yearly_retention_years: int | None
    weekly_retention_days: list[int]
    monthly_retention_format: str
    monthly_retention_days_of_month: list[int | str]
    monthly_retention_weeks_of_month: list[str]
    monthly_retention_days_of_week: list[int]
    yearly_retention_format: str
    yearly_retention_months: list[int]
    yearly_retention_days_of_month: list[int | str]
    yearly_retention_weeks_of_month: list[str]
    yearly_retention_days_of_week: list[int]
    retention: list[str]
    protected_items: int


def policy_out(policy: BackupPolicy) -> dict:
    fields = {field: getattr(policy, field) for field in policies.POLICY_FIELDS}
    for rule in ("monthly", "yearly"):
        field = f"{rule}_retention_days_of_month"
        fields[field] = [policies.LAST if day == engine.LAST_DAY else day for day in fields[field]]
    in_use = policy.protected_items.exclude(status="stopped").count()
    return {"id": policy.pk, **fields, "retention": policies.describe_retention(policy), "protected_items": in_use}


@router.get("/vaults/{vault_id}/policies", response=list[PolicyOut], operation_id="backup_vms_api_list_policies")
def list_policies(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    return [policy_out(p) for p in vault.policies.all()]


@router.post(
    "/vaults/{vault_id}/policies", response={201: PolicyOut, 400: ErrorOut}, operation_id="backup_vms_api_create_policy"
)
def create_policy(request, vault_id: int, payload: PolicyIn):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        return Status(201, policy_out(policies.create_policy(vault, payload.dict())))
    except ValidationError as error:
        return bad_request(error)


@router.get("/vaults/{vault_id}/policies/{policy_id}", response=PolicyOut, operation_id="backup_vms_api_get_policy")
def get_policy(request, vault_id: int, policy_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    return policy_out(access.get_policy(vault, policy_id))


@router.put(
    "/vaults/{vault_id}/policies/{policy_id}",
    response={200: PolicyOut, 400: ErrorOut, 403: ApprovalNeededOut},
    operation_id="backup_vms_api_update_policy",
)
def update_policy(request, vault_id: int, policy_id: int, payload: PolicyIn, approval_request: int | None = None):
    """A change that keeps less may need a resource guard's approved request: ?approval_request=ID."""
    vault = get_vault_for_user(request.auth, vault_id)
    policy = access.get_policy(vault, policy_id)
    try:
        return Status(
            200,
            policy_out(policies.update_policy(policy, payload.dict(), user=request.auth, approval=approval_request)),
        )
    except ValidationError as error:
        return refused(error)


@router.delete(
    "/vaults/{vault_id}/policies/{policy_id}",
    response={204: None, 400: ErrorOut},
    operation_id="backup_vms_api_delete_policy",
)
def delete_policy(request, vault_id: int, policy_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        policies.delete_policy(access.get_policy(vault, policy_id))
    except ValidationError as error:
        return bad_request(error)
    return Status(204, None)
