"""RESTORE: POST /protected-items/{id}/restore restores a recovery point (a new machine, or its disks only)
and answers 202 with the Restore job, or 400 with the wizard's messages by field.

    {point_id | recovery_point_id, vm_name, cloud_service, create_cloud_service, storage_account,
     virtual_network, subnet, disks_only, disk_keys, start_vm, restore_from}

`start_vm` (a restore to a KVM host only) starts the new domain once it is defined. `restore_from` "secondary"
reads a geo-redundant vault's copy in the paired region and restores into that region ("primary" by default).
"""

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup.jobs.api import JobOut, job_out
from backup.tenancy.api_errors import ErrorOut, bad_request

from ..access import get_protected_item_for_user
from ..services import restore

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
    start_vm: bool = False
    restore_from: str = "primary"


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
        raise ValidationError(
            {
                "point_id": "No such recovery point of this item."
                if wanted not in (None, "")
                else "The item has no recovery points yet."
            }
        )
    return point


@router.post(
    "/protected-items/{item_id}/restore",
    response={202: JobOut, 400: ErrorOut},
    operation_id="backup_vms_api_manage_restore_item",
)
def restore_item(request, item_id: int, payload: RestoreIn):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        job = restore.start_restore(
            _point(item, payload),
            user=request.auth,
            vm_name=payload.vm_name,
            cloud_service=payload.cloud_service,
            create_cloud_service=payload.create_cloud_service,
            storage_account=payload.storage_account,
            virtual_network=payload.virtual_network,
            subnet=payload.subnet,
            disks_only=payload.disks_only,
            disk_keys=payload.disk_keys,
            start_vm=payload.start_vm,
            from_secondary=restore.restore_from_secondary(payload.restore_from),
        )
    except ValidationError as error:
        return bad_request(error)
    return Status(202, job_out(job))
