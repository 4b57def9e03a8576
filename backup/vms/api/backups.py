"""BACK UP NOW on PROTECTED ITEMS: POST /protected-items/{id}/backup starts a Backup job (202)."""

from django.core.exceptions import ValidationError
from ninja import Router, Status

from backup.jobs.api import JobOut, job_out
from backup.tenancy.api_errors import ErrorOut, conflict

from ..access import get_protected_item_for_user
from ..services import backup

router = Router(tags=["backups"])


@router.post(
    "/protected-items/{item_id}/backup",
    response={202: JobOut, 409: ErrorOut},
    operation_id="backup_vms_api_backup_back_up_now",
)
def back_up_now(request, item_id: int):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        job = backup.back_up_now(item, request.auth)
    except ValidationError as refusal:
        return conflict(refusal)
    return Status(202, job_out(job))
