from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.renderers import JSONRenderer

from backup.tenancy.api_errors import ErrorOut, conflict

from . import services
from .access import get_job_for_user
from .models import ACTIVE_STATUSES, Job, JobStatus

router = Router(tags=["jobs"])


class SubTaskOut(Schema):
    name: str
    status: str
    started_at: datetime
    ended_at: datetime | None


class JobOut(Schema):
    id: int
    vault_id: int | None
    item_name: str
    cloud_service: str
    operation: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    progress_percent: int
    bytes_done: int
    bytes_total: int
    error_code: str
    error_message: str
    recommended_action: str
    cancellable: bool
    result: dict


class JobDetailOut(JobOut):
    subtasks: list[SubTaskOut]


# What job_out reads: a list of jobs loads only these.
JOB_OUT_FIELDS = (
    "id",
    "vault_id",
    "item_name",
    "item_parent",
    "operation",
    "status",
    "started_at",
    "ended_at",
    "progress_percent",
    "bytes_done",
    "bytes_total",
    "error_code",
    "error_message",
    "recommended_action",
    "cancellable",
    "result",
)


def job_out(job: Job) -> dict:
    return job_out_of_values({name: getattr(job, name) for name in JOB_OUT_FIELDS})


def job_out_of_values(row: dict) -> dict:
    """A job's JSON from its JOB_OUT_FIELDS (a row read with `.values(*JOB_OUT_FIELDS)`, or a job's attributes)."""
    ended_at = row["ended_at"]
    return {
        "id": row["id"],
        "vault_id": row["vault_id"],
        "item_name": row["item_name"],
        "cloud_service": row["item_parent"],
        "operation": row["operation"],
        "status": row["status"],
        "started_at": row["started_at"],
        "ended_at": ended_at,
        "duration_s": ((ended_at or timezone.now()) - row["started_at"]).total_seconds(),
        "progress_percent": row["progress_percent"],
        "bytes_done": row["bytes_done"],
        "bytes_total": row["bytes_total"],
        "error_code": row["error_code"],
        "error_message": row["error_message"],
        "recommended_action": row["recommended_action"],
        "cancellable": row["cancellable"],
        "result": row["result"],
    }


def unvalidated_json(request, data) -> HttpResponse:
    """`data` rendered as ninja renders an operation's answer, without validating it against the operation's schema
    first: for pages of jobs built by job_out, which have the schema's fields, in its order, with its types already.
    Validating fifty jobs field by field cost more than reading them from the database; the JSON is the same."""
    content = JSONRenderer().render(request, data, response_status=200)
    return HttpResponse(content, content_type=f"{JSONRenderer.media_type}; charset={JSONRenderer.charset}")


@router.get("/jobs/{job_id}", response=JobDetailOut)
def get_job(request, job_id: int):
    job = get_job_for_user(request.auth, job_id)
    return job_out(job) | {"subtasks": list(job.subtasks.all())}


@router.post("/jobs/{job_id}/cancel", response={200: JobOut, 409: ErrorOut})
def cancel_job(request, job_id: int):
    job = get_job_for_user(request.auth, job_id)
    try:
        return Status(200, job_out(services.request_cancel(job)))
    except ValidationError as refusal:
        return conflict(refusal)


@router.get("/jobs", response=list[JobOut])
def list_jobs(
    request, status: JobStatus | None = None, operation: str = "", vault_id: int | None = None, limit: int = 50
):
    """The newest jobs of every subscription of the caller (at most 500); status "in_progress" includes
    Cancelling, as on the Jobs page."""
    jobs = Job.objects.for_user(request.auth).defer("params")
    if status == JobStatus.IN_PROGRESS:
        jobs = jobs.filter(status__in=ACTIVE_STATUSES)
    elif status:
        jobs = jobs.filter(status=status)
    if operation:
        jobs = jobs.filter(operation=operation)
    if vault_id is not None:
        jobs = jobs.filter(vault_id=vault_id)
    return [job_out(j) for j in jobs.order_by("-started_at", "-id")[: max(0, min(limit, 500))]]


@router.post("/jobs/{job_id}/retry", response={202: JobOut, 409: ErrorOut})
def retry_job(request, job_id: int):
    """Start a new job with the same operation and item as a failed or cancelled one."""
    job = get_job_for_user(request.auth, job_id)
    try:
        return Status(202, job_out(services.retry(job, request.auth)))
    except ValidationError as refusal:
        return conflict(refusal)
