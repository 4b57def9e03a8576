"""Vault > PROTECTED ITEMS and PROTECT (machines under an existing policy or a new one: 202 with the jobs)."""

from datetime import datetime

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup.jobs.api import JobOut, job_out
from backup.tenancy.api_errors import ErrorOut, bad_request
from backup.vaults.access import get_vault_for_user

from ..services import policies, protection
from .policies import PolicyIn

router = Router(tags=["virtual machines"])


class ProtectedItemOut(Schema):
    id: int
    vm_id: int | None
    name: str
    cloud_service: str
    policy_id: int | None
    policy: str | None
    status: str
    status_label: str
    purge_at: datetime | None  # soft deleted: purged for good then, unless undeleted
    recovery_points: int
    newest_recovery_point: datetime | None


class ProtectIn(Schema):
    vm_ids: list[int]
    policy_id: int | None = None
    policy: PolicyIn | None = None


class ProtectOut(Schema):
    policy_id: int
    jobs: list[JobOut]


@router.post(
    "/vaults/{vault_id}/protect", response={202: ProtectOut, 400: ErrorOut}, operation_id="backup_vms_api_protect"
)
def protect(request, vault_id: int, payload: ProtectIn):
    vault = get_vault_for_user(request.auth, vault_id)
    policies.ensure_default_policy(vault)
    try:
        if payload.policy is not None:
            policy, jobs = protection.protect_with_new_policy(
                vault, payload.vm_ids, payload.policy.dict(), request.auth
            )
        else:
            if payload.policy_id is None:
                raise ValidationError({"policy_id": "Give policy_id (an existing policy) or policy (a new one)."})
            policy = vault.policies.filter(pk=payload.policy_id).first()
            jobs = protection.start_protection(vault, payload.vm_ids, policy, request.auth)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, {"policy_id": policy.pk, "jobs": [job_out(j) for j in jobs]})


@router.get(
    "/vaults/{vault_id}/protected-items",
    response=list[ProtectedItemOut],
    operation_id="backup_vms_api_list_protected_items",
)
def list_protected_items(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    return protection.protected_item_rows(vault)
