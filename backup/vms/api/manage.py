"""Managing protection and the vault: STOP PROTECTION, resume, DELETE (backup data), UNREGISTER and the
vault's DELETE. Each starts a job (202) or answers 400 with the product's message, like the dialogs.

    POST   /protected-items/{id}/stop-protection     {delete_data, reason, comment}
    POST   /protected-items/{id}/resume              {policy_id}
    POST   /protected-items/{id}/delete-backup-data  {reason, comment}  (soft deleted when the vault says so)
    POST   /protected-items/{id}/undelete            200 {id, status, status_label}
    POST   /registered-items/{id}/unregister
    DELETE /vaults/{id}                              {reason}  (on the vaults router: see add_vault_operations)
"""

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup.jobs.api import JobOut, job_out
from backup.tenancy.api_errors import ApprovalNeededOut, ErrorOut, bad_request, refused
from backup.vaults.access import get_vault_for_user

from ..access import get_protected_item_for_user, get_registered_item_for_user
from ..services import manage

router = Router(tags=["restore and manage"])


class StopProtectionIn(Schema):
    delete_data: bool = False
    reason: str = ""
    comment: str = ""
    approval_request: int | None = None  # an approved request of the resource guard, where one is needed


class ResumeIn(Schema):
    policy_id: int


class DeleteDataIn(Schema):
    reason: str = ""
    comment: str = ""
    approval_request: int | None = None


class DeleteVaultIn(Schema):
    reason: str = ""
    approval_request: int | None = None


@router.post(
    "/protected-items/{item_id}/stop-protection",
    response={202: JobOut, 400: ErrorOut, 403: ApprovalNeededOut},
    operation_id="backup_vms_api_manage_stop_protection",
)
def stop_protection(request, item_id: int, payload: StopProtectionIn):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        job = manage.stop_protection(
            item,
            user=request.auth,
            delete_data=payload.delete_data,
            reason=payload.reason,
            comment=payload.comment,
            approval=payload.approval_request,
        )
    except ValidationError as error:
        return refused(error)
    return Status(202, job_out(job))


@router.post(
    "/protected-items/{item_id}/resume",
    response={202: JobOut, 400: ErrorOut},
    operation_id="backup_vms_api_manage_resume_protection",
)
def resume_protection(request, item_id: int, payload: ResumeIn):
    item = get_protected_item_for_user(request.auth, item_id)
    policy = item.vault.policies.filter(pk=payload.policy_id).first()
    try:
        job = manage.resume_protection(item, policy, user=request.auth)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))


@router.post(
    "/protected-items/{item_id}/delete-backup-data",
    response={202: JobOut, 400: ErrorOut, 403: ApprovalNeededOut},
    operation_id="backup_vms_api_manage_delete_backup_data",
)
def delete_backup_data(request, item_id: int, payload: DeleteDataIn):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        job = manage.delete_backup_data(
            item, user=request.auth, reason=payload.reason, comment=payload.comment, approval=payload.approval_request
        )
    except ValidationError as error:
        return refused(error)
    return Status(202, job_out(job))


class UndeleteOut(Schema):
    id: int
    status: str
    status_label: str


@router.post(
    "/protected-items/{item_id}/undelete",
    response={200: UndeleteOut, 400: ErrorOut},
    operation_id="backup_vms_api_manage_undelete",
)
def undelete(request, item_id: int):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        item = manage.undelete(item, user=request.auth)
    except ValidationError as error:
        return bad_request(error)
    return Status(200, {"id": item.pk, "status": item.status, "status_label": item.status_label})


@router.post(
    "/registered-items/{item_id}/unregister",
    response={202: JobOut, 400: ErrorOut},
    operation_id="backup_vms_api_manage_unregister",
)
def unregister(request, item_id: int):
    item = get_registered_item_for_user(request.auth, item_id)
    try:
        job = manage.start_unregister(item, user=request.auth)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))


def delete_vault(request, vault_id: int, payload: DeleteVaultIn | None = None):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        job = manage.start_delete_vault(
            vault,
            user=request.auth,
            reason=payload.reason if payload else "",
            approval=payload.approval_request if payload else None,
        )
    except ValidationError as error:
        return refused(error)
    return Status(202, job_out(job))


def add_vault_operations(vaults_router: Router) -> None:
    """Put DELETE /vaults/{id} on the vaults app's router; the project's API assembly calls this.

    The operation shares its path with the vaults app's GET /vaults/{id}, and ninja serves one path from one
    router (a second router's pattern for it is never reached: Django answers 405), so it must join the vaults
    router. Its work is the vms app's, though: only vms knows what a vault still holds, and the vaults app may
    not import vms. The project, which may import both, joins them."""
    vaults_router.add_api_operation(
        "/vaults/{vault_id}",
        ["DELETE"],
        delete_vault,
        response={202: JobOut, 400: ErrorOut, 403: ApprovalNeededOut},
        tags=["vaults"],
        operation_id="backup_vms_api_manage_delete_vault",
    )
