"""The vault's JOBS tab: GET /vaults/{id}/jobs, filtered and paged as on the page."""

from ninja import Query, Router, Schema

from backup.jobs.api import JobOut, job_out
from backup.jobs.filters import PAGE_SIZE, JobFilterForm
from backup.jobs.models import Job
from backup.tenancy.api_errors import ErrorOut, field_errors
from backup.vaults.access import get_vault_for_user

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
    maintenance: bool = False  # Prune and Garbage Collection jobs too
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
    jobs = Job.objects.for_vault_page(vault.pk, **form.filters())
    page = Job.objects.page_of(jobs, form.page_number(), PAGE_SIZE, form.natural())
    return {
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "page_size": PAGE_SIZE,
        "jobs": [job_out(job) for job in page.object_list],
    }
