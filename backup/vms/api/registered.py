"""Vault > REGISTERED ITEMS: the list, DISCOVER and REGISTER (each starts jobs: 202)."""

from datetime import datetime

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup.jobs.api import JobOut, job_out
from backup.tenancy.api_errors import ErrorOut, bad_request
from backup.vaults.access import get_vault_for_user

from ..services import discovery, registration

router = Router(tags=["virtual machines"])


class RegisteredItemOut(Schema):
    id: int
    vm_id: int | None
    name: str
    cloud_service: str
    status: str
    status_reason: str
    registered_at: datetime | None


class RegisterIn(Schema):
    vm_ids: list[int]


@router.post(
    "/vaults/{vault_id}/discover", response={202: JobOut, 400: ErrorOut}, operation_id="backup_vms_api_discover"
)
def discover(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        return Status(202, job_out(discovery.start_discovery(vault, request.auth)))
    except ValidationError as error:
        return bad_request(error)


@router.get(
    "/vaults/{vault_id}/registered-items",
    response=list[RegisteredItemOut],
    operation_id="backup_vms_api_list_registered_items",
)
def list_registered_items(request, vault_id: int, status: str | None = None):
    vault = get_vault_for_user(request.auth, vault_id)
    items = vault.registered_items.all()
    if status:
        items = items.filter(status=status)
    return [
        {
            "id": i.pk,
            "vm_id": i.vm_id,
            "name": i.vm_name,
            "cloud_service": i.cloud_service_name,
            "status": i.status,
            "status_reason": i.status_reason,
            "registered_at": i.registered_at,
        }
        for i in items
    ]


@router.post(
    "/vaults/{vault_id}/register", response={202: list[JobOut], 400: ErrorOut}, operation_id="backup_vms_api_register"
)
def register(request, vault_id: int, payload: RegisterIn):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        return Status(202, [job_out(j) for j in registration.start_registration(vault, payload.vm_ids, request.auth)])
    except ValidationError as error:
        return bad_request(error)
