"""API of backups and of a vault's jobs: POST /protected-items/{id}/backup, GET /vaults/{id}/jobs."""

from ninja import Query, Router, Schema, Status

from backup.jobs.api import JobOut, job_out
from backup.jobs.errors import JobFailed
from backup.jobs.filters import PAGE_SIZE, JobFilterForm
from backup.jobs.models import Job
from backup.tenancy.api_errors import ErrorOut, field_errors
from backup.vaults.access import get_vault_for_user

from .access import get_protected_item_for_user
from .services import backup

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
    page: int | None = None


@router.post("/protected-items/{item_id}/backup", response={202: JobOut, 409: ErrorOut})
def back_up_now(request, item_id: int):
    item = get_protected_item_for_user(request.auth, item_id)
    try:
        job = backup.back_up_now(item, request.auth)
    except JobFailed as failure:
        return Status(409, {"detail": failure.message})
    return Status(202, job_out(job))


@router.get("/vaults/{vault_id}/jobs", response={200: JobPageOut, 400: ErrorOut})
def vault_jobs(request, vault_id: int, filters: Query[JobFiltersIn]):
    vault = get_vault_for_user(request.auth, vault_id)
    form = JobFilterForm({k: v for k, v in filters.dict().items() if v not in ("", None)})
    if not form.is_valid():
        return field_errors({field: list(messages) for field, messages in form.errors.items()})
    page = Job.objects.page_of(Job.objects.for_vault_page(vault.pk, **form.filters()), form.page_number(), PAGE_SIZE)
    return {"count": page.paginator.count, "page": page.number, "pages": page.paginator.num_pages,
            "page_size": PAGE_SIZE, "jobs": [job_out(job) for job in page.object_list]}
