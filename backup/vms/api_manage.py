"""API of restore and management: restore a recovery point, stop protection, resume, delete backup data,
unregister, delete a vault. Each starts a job (202) or answers 400 with field errors, like the portal.

    POST   /protected-items/{id}/restore             {point_id | recovery_point_id, vm_name, cloud_service,
                                                      create_cloud_service, storage_account, virtual_network,
                                                      subnet, disks_only, disk_keys}
    POST   /protected-items/{id}/stop-protection     {delete_data, reason, comment}
    POST   /protected-items/{id}/resume              {policy_id}
    POST   /protected-items/{id}/delete-backup-data  {reason, comment}
    POST   /registered-items/{id}/unregister
    DELETE /vaults/{id}                              (202 + the Delete Vault job)
"""

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup.jobs.api import JobOut, job_out
from backup.tenancy.api_errors import ErrorOut, bad_request
from backup.vaults.access import get_vault_for_user
from backup.vaults.api import router as vaults_router

from .access import get_protected_item_for_user, get_registered_item_for_user
from .services import manage, restore

router = Router(tags=["restore and manage"])


class RestoreIn(Schema):
    point_id: int | str | None = None
    recovery_point_id: int | None = None
    vm_name: str = ""
    cloud_service: str = ""
    create_cloud_service: bool | None = None
    storage_account: str = ""
    virtual_network: str = ""
    subnet: str = ""
    disks_only: bool = False
    disk_keys: list[str] | None = None


class StopProtectionIn(Schema):
    delete_data: bool = False
    reason: str = ""
    comment: str = ""


class ResumeIn(Schema):
    policy_id: int


class DeleteDataIn(Schema):
    reason: str = ""
    comment: str = ""


class DeleteVaultIn(Schema):
    reason: str = ""


def _point(item, payload: RestoreIn):
    """The item's point by its database id (recovery_point_id, or a number in point_id) or its store id
    (point_id "job-12"); the newest point when none is named."""
    points = restore.points_of(item)
    wanted = payload.recovery_point_id if payload.recovery_point_id is not None else payload.point_id
    if wanted in (None, ""):
        point = points.first()
    elif isinstance(wanted, int) or str(wanted).isdigit():
        point = points.filter(pk=int(wanted)).first()
    else:
        point = points.filter(point_id=str(wanted)).first()
    if point is None:
        raise ValidationError({"point_id": "No such recovery point of this item." if wanted not in (None, "")
                               else "The item has no recovery points yet."})
    return point


@router.post("/protected-items/{item_id}/restore", response={202: JobOut, 400: ErrorOut})
def restore_item(request, item_id: int, payload: RestoreIn):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        job = restore.start_restore(
            _point(item, payload), user=request.auth, vm_name=payload.vm_name, cloud_service=payload.cloud_service,
            create_cloud_service=payload.create_cloud_service, storage_account=payload.storage_account,
            virtual_network=payload.virtual_network, subnet=payload.subnet, disks_only=payload.disks_only,
            disk_keys=payload.disk_keys)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))


@router.post("/protected-items/{item_id}/stop-protection", response={202: JobOut, 400: ErrorOut})
def stop_protection(request, item_id: int, payload: StopProtectionIn):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        job = manage.stop_protection(item, user=request.auth, delete_data=payload.delete_data,
                                     reason=payload.reason, comment=payload.comment)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))


@router.post("/protected-items/{item_id}/resume", response={202: JobOut, 400: ErrorOut})
def resume_protection(request, item_id: int, payload: ResumeIn):
    item = get_protected_item_for_user(request.auth, item_id)
    policy = item.vault.policies.filter(pk=payload.policy_id).first()
    try:
        job = manage.resume_protection(item, policy, user=request.auth)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))


@router.post("/protected-items/{item_id}/delete-backup-data", response={202: JobOut, 400: ErrorOut})
def delete_backup_data(request, item_id: int, payload: DeleteDataIn):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        job = manage.delete_backup_data(item, user=request.auth, reason=payload.reason, comment=payload.comment)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))


@router.post("/registered-items/{item_id}/unregister", response={202: JobOut, 400: ErrorOut})
def unregister(request, item_id: int):
    item = get_registered_item_for_user(request.auth, item_id)
    try:
        job = manage.start_unregister(item, user=request.auth)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))


# DELETE /vaults/{id} shares its path with the vaults app's GET: Django would route the path to whichever router
# was mounted first and answer 405 for the other method, so the operation joins the vaults router's path instead
# (vms may import vaults; the vaults app cannot check what the vault still holds itself).
@vaults_router.delete("/vaults/{vault_id}", response={202: JobOut, 400: ErrorOut}, tags=["vaults"])
def delete_vault(request, vault_id: int, payload: DeleteVaultIn | None = None):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        job = manage.start_delete_vault(vault, user=request.auth, reason=payload.reason if payload else "")
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))
