"""`manage.py backup job ...`, and how every command that starts jobs reports them: started, or
(--wait) followed to their end with a progress bar on stderr."""

import time

from django.core.management.base import CommandError

from backup.jobs import services as job_services
from backup.jobs.api import job_out
from backup.jobs.errors import Refused
from backup.jobs.models import ACTIVE_STATUSES, Job, JobStatus

from . import resolve
from .errors import JOB_FAILED, refused
from .output import fields, progress_bar, table

JOB_COLUMNS = [
    ("id", "id"),
    ("operation", "operation"),
    ("item", "item_name"),
    ("cloud service", "cloud_service"),
    ("status", "status"),
    ("started", "started_at"),
    ("duration s", "duration"),
    ("%", "progress_percent"),
    ("error", "error_code"),
]
JOB_FIELDS = [
    "id",
    "operation",
    "item_name",
    "cloud_service",
    "vault_id",
    "status",
    "started_at",
    "ended_at",
    "duration_s",
    "progress_percent",
    "bytes_done",
    "bytes_total",
    "error_code",
    "error_message",
    "recommended_action",
    "cancellable",
    "result",
]


def _job_rows(items: list[dict]) -> list[dict]:
    return [row | {"duration": round(row["duration_s"])} for row in items]


def job_detail(job: Job) -> dict:
    subtasks = [
        {"name": s.name, "status": s.status, "started_at": s.started_at, "ended_at": s.ended_at}
        for s in job.subtasks.all()
    ]
    return job_out(job) | {"subtasks": subtasks}


def _job_text(data: dict) -> str:
    steps = (
        table(
            data["subtasks"],
            [("sub-task", "name"), ("status", "status"), ("started", "started_at"), ("ended", "ended_at")],
        )
        if data.get("subtasks")
        else ""
    )
    return fields(data, JOB_FIELDS) + (f"\n\n{steps}" if steps else "")


def started(job: Job, options, stderr):
    """A command that started a job: refused at once (another operation holds the item) is a failure;
    with --wait, follow it to its end."""
    if options.get("wait") and job.is_active:
        return wait_job(job, options, stderr)
    data = job_out(job)
    if job.status == JobStatus.FAILED:
        raise CommandError(f"Job {job.pk} failed: {job.error_message}", returncode=JOB_FAILED)
    return (
        data,
        f"Job {job.pk} started: {job.get_operation_display()} '{job.item_label}'. "
        f"Follow it with: manage.py backup job wait {job.pk}",
    )


def started_all(jobs: list[Job], options, stderr):
    """Commands that start one job per machine (register, protect): --wait follows each; any that does not
    complete makes the command fail, after all were followed."""
    if not options.get("wait"):
        data = [job_out(j) for j in jobs]
        lines = [
            f"Job {j.pk} started: {j.get_operation_display()} '{j.item_label}'."
            if j.status != JobStatus.FAILED
            else f"Job {j.pk} failed: {j.get_operation_display()} '{j.item_label}': {j.error_message}"
            for j in jobs
        ]
        if any(j.status == JobStatus.FAILED for j in jobs):
            raise CommandError("\n".join(lines), returncode=JOB_FAILED)
        return data, "\n".join(lines + ["Follow them with: manage.py backup job wait ID"])
    data, texts, failures = [], [], []
    for job in jobs:
        try:
            detail, text = wait_job(job, options, stderr)
        except CommandError as error:
            if error.returncode != JOB_FAILED:
                raise
            failures.append(str(error))
            continue
        data.append(detail)
        texts.append(text)
    if failures:
        raise CommandError("\n".join(failures), returncode=JOB_FAILED)
    return data, "\n\n".join(texts)


def job_list(user, options, stderr):
    found = Job.objects.for_user(user).defer("params").order_by("-started_at", "-id")
    if options.get("vault"):
        found = found.filter(vault_id=resolve.vault(user, options["vault"]).pk)
    status = options.get("status")
    if status == JobStatus.IN_PROGRESS:
        found = found.filter(status__in=ACTIVE_STATUSES)
    elif status:
        found = found.filter(status=status)
    if options.get("operation"):
        found = found.filter(operation=options["operation"])
    data = [job_out(j) for j in found[: options["limit"]]]
    return data, table(_job_rows(data), JOB_COLUMNS)


def job_show(user, options, stderr):
    data = job_detail(resolve.job(user, options["job"]))
    return data, _job_text(data)


def job_cancel(user, options, stderr):
    try:
        job = job_services.request_cancel(resolve.job(user, options["job"]))
    except Refused as refusal:
        raise refused(refusal) from None
    return job_out(job), f"Job {job.pk}: {job.get_status_display()}."


def job_retry(user, options, stderr):
    try:
        job = job_services.retry(resolve.job(user, options["job"]), user)
    except Refused as refusal:
        raise refused(refusal) from None
    return started(job, options, stderr)


def job_wait(user, options, stderr):
    return wait_job(resolve.job(user, options["job"]), options, stderr)


def wait_job(job: Job, options, stderr):
    """Poll the job's row until it ends, drawing a progress bar on stderr; a job that does not complete
    (failed, cancelled, or still running at --timeout) exits non-zero with its reason."""
    deadline = time.monotonic() + options.get("timeout", 3600)
    interval = options.get("interval", 0.5)
    quiet = options.get("quiet", False)
    while True:
        job.refresh_from_db()
        if not quiet:
            step = job.subtasks.exclude(status=JobStatus.COMPLETED).order_by("-position").first()
            stderr.write(
                f"\rJob {job.pk} {progress_bar(job.progress_percent)} {job.get_status_display():<12} "
                f"{step.name if step and job.is_active else ''}".ljust(100),
                ending="",
            )
            stderr.flush()
        if not job.is_active:
            break
        if time.monotonic() >= deadline:
            stderr.write("")
            raise CommandError(
                f"Job {job.pk} is still {job.get_status_display().lower()} after the time-out.", returncode=JOB_FAILED
            )
        time.sleep(interval)
    if not quiet:
        stderr.write("")
    data = job_detail(job)
    if job.status != JobStatus.COMPLETED:
        reason = f" - {job.error_message}" if job.error_message else ""
        action = f"\nRecommended action: {job.recommended_action}" if job.recommended_action else ""
        raise CommandError(f"Job {job.pk} {job.get_status_display().lower()}{reason}{action}", returncode=JOB_FAILED)
    return data, _job_text(data)
