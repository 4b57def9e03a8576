"""The worker side of jobs: claim a job, run its handler, always write a final status with a reason, and
fail the jobs whose worker was lost."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from backup.notifications.models import Notification
from backup.notifications.services import notify as notify_user
from backup.notifications.services import notify_members

from . import errors, registry
from .context import Heartbeat, JobContext
from .logging import job_log_context
from .models import ACTIVE_STATUSES, Job, JobStatus, SubTask
from .signals import job_finished

log = logging.getLogger(__name__)


def claim(job_id: int) -> Job | None:
    """Take a job for this worker with a conditional UPDATE: a fresh claim, or a redelivery of a
    job whose previous worker stopped sending heartbeats. Returns None when there is nothing to do."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_S)
    claimable = Q(claimed_at__isnull=True) | Q(heartbeat_at__lt=stale)
    taken = Job.objects.filter(Q(pk=job_id, status__in=ACTIVE_STATUSES) & claimable).update(
        claimed_at=now, heartbeat_at=now
    )
    if taken != 1:
        return None
    job = Job.objects.get(pk=job_id)
    Job.objects.filter(pk=job_id).update(attempts=job.attempts + 1)
    return job


def run(job_id: int) -> None:
    """Run a job's handler and always write a final status with a reason; every log line written
    meanwhile carries the job id (backup/jobs/logging.py)."""
    with job_log_context(job_id):
        _run(job_id)


def _run(job_id: int) -> None:
    job = claim(job_id)
    if job is None:
        return
    if job.cancel_requested:
        finish(job.pk, JobStatus.CANCELLED, message="Cancelled at the user's request.")
        return
    handler = registry.HANDLERS.get(job.operation)
    log.info("job %s started: %s %s (attempt %s)", job.pk, job.operation, job.item_name, job.attempts + 1)
    try:
        if handler is None:
            raise errors.JobFailed(f"No worker handles the operation {job.operation!r}.", code="UnknownOperation")
        with Heartbeat(job.pk):
            handler(JobContext(job))
    except errors.JobCancelled:
        finish(job.pk, JobStatus.CANCELLED, message="Cancelled at the user's request. Nothing partial was kept.")
    except errors.JobFailed as failure:
        finish(job.pk, JobStatus.FAILED, message=failure.message, action=failure.action, code=failure.code)
    except (OperationalError, InterfaceError):
        log.exception("job %s lost its database connection", job.pk)
        _record_lost_database(job.pk)
    except Exception as exc:
        log.exception("job %s failed unexpectedly", job.pk)
        # Only the exception's type: its text may name server paths, which a job never shows.
        finish(
            job.pk,
            JobStatus.FAILED,
            message=f"{errors.internal_error_for(job.operation)} ({type(exc).__name__})",
            action="Retry the operation in a few minutes.",
            code="InternalError",
        )
    else:
        finish(job.pk, JobStatus.COMPLETED)


def _record_lost_database(job_id: int, attempts: int = 4) -> None:
    """The handler's connection dropped (database restarted, backend terminated, network cut): open a new one
    and say so, instead of leaving the job to the reaper's "the worker stopped". A database still down after
    a few seconds leaves the job active; the reaper fails it once the database answers again."""
    for attempt in range(attempts):
        connection.close()  # a broken connection is not reused: the next query opens a fresh one
        try:
            finish(
                job_id,
                JobStatus.FAILED,
                message=errors.DATABASE_LOST,
                action=errors.DATABASE_LOST_ACTION,
                code="DatabaseConnectionLost",
            )
            return
        except (OperationalError, InterfaceError):
            if attempt == attempts - 1:
                raise
            time.sleep(2**attempt)


def reap_lost_jobs() -> int:
    """Fail claimed jobs whose worker stopped sending heartbeats (killed, or its host restarted)."""
    stale = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_S)
    lost = Job.objects.filter(status__in=ACTIVE_STATUSES, claimed_at__isnull=False, heartbeat_at__lt=stale)
    count = 0
    for job_id in lost.values_list("pk", flat=True):
        if not finish(
            job_id, JobStatus.FAILED, message=errors.WORKER_LOST, action=errors.WORKER_LOST_ACTION, code="WorkerLost"
        ):
            continue
        count += 1
    return count


def _clean_up(job_id: int) -> None:
    """Run the operation's clean-up for a job that ended other than Completed, however it ended: the one place
    a job's leftovers are settled. A clean-up that finds the job's work done after all (a worker lost after the
    store committed a backup) returns a warning: the job then ends Completed, with the warning in its details."""
    job = Job.objects.get(pk=job_id)
    clean_up = registry.CLEAN_UPS.get(job.operation)
    if clean_up is None:
        return
    try:
        warning = clean_up(job)
    except Exception:
        log.exception("cleaning up after job %s failed", job_id)
        return
    if not warning:
        return
    job.refresh_from_db()
    if Job.objects.filter(pk=job_id, status=JobStatus.FAILED).update(
        status=JobStatus.COMPLETED,
        error_message="",
        recommended_action="",
        error_code="",
        progress_percent=100,
        result=job.result | {"warning": warning},
    ):
        log.info("job %s ended: completed after all (%s)", job_id, warning)
        notify(Job.objects.get(pk=job_id))


def finish(job_id: int, status: str, *, message: str = "", action: str = "", code: str = "") -> int:
    # One transaction: whoever sees the final status also sees its notification and closed steps.
    with transaction.atomic():
        updated = Job.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).update(
            status=status,
            ended_at=timezone.now(),
            error_message=message,
            recommended_action=action,
            error_code=code,
            cancellable=False,
            **({"progress_percent": 100} if status == JobStatus.COMPLETED else {}),
        )
        if updated:
            if status != JobStatus.COMPLETED:
                # Steps a killed or disconnected handler could not close end with the job.
                SubTask.objects.filter(job_id=job_id, status__in=ACTIVE_STATUSES).update(
                    status=status, ended_at=timezone.now()
                )
            notify(Job.objects.get(pk=job_id))
    if updated:
        log.info("job %s ended: %s%s", job_id, status, f" ({code})" if code else "")
        if status != JobStatus.COMPLETED:
            _clean_up(job_id)
        _announce(job_id)
    return updated


def _announce(job_id: int) -> None:
    for receiver, result in job_finished.send_robust(sender=Job, job=Job.objects.get(pk=job_id)):
        if isinstance(result, Exception):
            log.error("a receiver of job_finished (%s) failed for job %s", receiver, job_id, exc_info=result)


_LEVELS: dict[str, tuple[str, str]] = {
    JobStatus.IN_PROGRESS: (Notification.Level.PROGRESS, "started"),
    JobStatus.CANCELLING: (Notification.Level.PROGRESS, "is being cancelled"),
    JobStatus.COMPLETED: (Notification.Level.SUCCESS, "completed"),
    JobStatus.FAILED: (Notification.Level.ERROR, "failed"),
    JobStatus.CANCELLED: (Notification.Level.INFO, "was cancelled"),
}


def notify(job: Job) -> None:
    if job.is_maintenance and job.status != JobStatus.FAILED:
        return  # housekeeping the user did not ask for: only its failure is worth a word
    level, verb = _LEVELS[job.status]
    subject = f" for '{job.item_label}'" if job.item_name else ""
    title = f"{job.get_operation_display()} job{subject} {verb}"
    kwargs = {
        "message": job.error_message,
        "level": level,
        "key": f"job-{job.pk}",
        "link_url": reverse("job-detail", args=[job.pk]),
        "link_label": "VIEW JOB",
    }
    if job.created_by is not None:
        notify_user(job.created_by, title, subscription=job.subscription, **kwargs)
    elif job.scheduled:
        notify_members(job.subscription, title, **kwargs)
