"""The vault's JOBS tab: GET /vaults/{id}/jobs, filtered and paged as on the page; and its DASHBOARD's
geo-replication: GET /vaults/{id}/replication."""

from datetime import datetime

from ninja import Query, Router, Schema

from backup.jobs.api import JOB_OUT_FIELDS, JobOut, job_out_of_values, unvalidated_json
from backup.jobs.filters import PAGE_SIZE, JobFilterForm
from backup.jobs.pages import vault_page
from backup.tenancy.api_errors import ErrorOut, field_errors
from backup.vaults.access import get_vault_for_user

from ..services import dashboard, replication

router = Router(tags=["backups"])


class JobPageOut(Schema):
    count: int
    page: int
    pages: int
    page_size: int
    jobs: list[JobOut]


class JobFiltersIn(Schema):
    operation: str = ""
    status: str = ""
    item: str = ""
    range: str = ""
    start: str = ""
    end: str = ""
    maintenance: bool = False  # Prune, Garbage Collection and Replicate jobs too
    page: int | None = None


@router.get(
    "/vaults/{vault_id}/jobs",
    response={200: JobPageOut, 400: ErrorOut},
    operation_id="backup_vms_api_backup_vault_jobs",
)
def vault_jobs(request, vault_id: int, filters: Query[JobFiltersIn]):
    vault = get_vault_for_user(request.auth, vault_id)
    form = JobFilterForm({k: v for k, v in filters.dict().items() if v not in ("", None)})
    if not form.is_valid():
        return field_errors({field: list(messages) for field, messages in form.errors.items()})
    page = vault_page(vault.pk, form.filters(), form.page_number(), PAGE_SIZE, form.natural(), JOB_OUT_FIELDS, True)
    return unvalidated_json(
        request,
        {
            "count": page.paginator.count,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "page_size": PAGE_SIZE,
            "jobs": [job_out_of_values(row) for row in page.object_list],
        },
    )


class CopyOut(Schema):
    name: str
    region: str
    stored_bytes: int


class ReplicationOut(Schema):
    redundancy: str
    state: str  # "In sync", "Replicating", "Behind", "Failed"; "" for a vault with one copy
    label: str
    secondary_region: str
    behind_since: datetime | None
    lag_seconds: float
    points_behind: int
    reason: str
    copies: list[CopyOut]


@router.get("/vaults/{vault_id}/replication", response=ReplicationOut, operation_id="backup_vms_api_vault_replication")
def vault_replication(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    status = replication.replication_status(vault)
    return {
        "redundancy": vault.redundancy,
        "state": status.state if status else "",
        "label": status.label if status else "",
        "secondary_region": vault.secondary_region,
        "behind_since": status.behind_since if status else None,
        "lag_seconds": status.lag_seconds if status else 0.0,
        "points_behind": status.points_behind if status else 0,
        "reason": status.reason if status else "",
        "copies": [vars(copy) for copy in dashboard.copies_of(vault)],
    }
