import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from backup.notifications.models import Notification
from backup.notifications.services import notify, notify_members

from . import errors, registry
from .context import Heartbeat, JobContext
from .logging import job_log_context
from .models import ACTIVE_STATUSES, Job, JobStatus, SubTask

log = logging.getLogger(__name__)


def start(
    *,
    subscription,
    operation: str,
    item_name: str = "",
    item_type: str = "",
    item_id: int | None = None,
    vault_id: int | None = None,
    lock_key: str | None = None,
    params: dict | None = None,
    user=None,
    scheduled: bool = False,
    busy_message: str | None = None,
) -> Job:
    """Record a job and queue it for a worker once the transaction commits.

    When another active job holds the same lock key, the new job is recorded as Failed with the
    product's "another operation is in progress" message of that operation instead of running beside it.
    """
    fields = {
        "subscription": subscription,
        "operation": operation,
        "item_name": item_name,
        "item_type": item_type,
        "item_id": item_id,
        "vault_id": vault_id,
        "lock_key": lock_key,
        "params": params or {},
        "created_by": user if user is not None and user.is_authenticated else None,
        "scheduled": scheduled,
        "cancellable": operation in registry.CANCELLABLE,
        "heartbeat_at": timezone.now(),
    }
    try:
        with transaction.atomic():
            job = Job.objects.create(**fields)
    except IntegrityError:
        now = timezone.now()
        job = Job.objects.create(
            **fields | {"status": JobStatus.FAILED, "cancellable": False},
            ended_at=now,
            error_code="OperationInProgress",
            error_message=busy_message or errors.busy_message_for(operation),
            recommended_action=errors.BUSY_ACTION,
        )
        _notify(job)
        return job
    transaction.on_commit(lambda: enqueue(job.pk))
    _notify(job)
    return job


def enqueue(job_id: int) -> bool:
    """Send a job to the workers. With the broker down the job stays recorded (In progress, unclaimed) and
    requeue_unclaimed() sends it again once the broker is back: a request never fails because of the queue."""
    from . import tasks  # tasks import this module; importing late avoids a cycle.

    try:
        tasks.run_job.delay(job_id)
    except Exception:  # kombu's OperationalError, redis' ConnectionError...: any broker failure
        log.warning("job %s could not be queued (broker unreachable); it will be requeued", job_id, exc_info=True)
        return False
    return True


def requeue_unclaimed(older_than_s: int | None = None) -> int:
    """Send again the active jobs no worker has claimed for a while (their message was never sent, or was lost
    with a broker that restarted without persistence). A duplicate message is harmless: claim() lets one run."""
    older_than_s = settings.JOB_REQUEUE_AFTER_S if older_than_s is None else older_than_s
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    waiting = Job.objects.filter(status__in=ACTIVE_STATUSES, claimed_at__isnull=True, started_at__lt=cutoff)
    sent = 0
    for job_id in waiting.order_by("pk").values_list("pk", flat=True):
        if not enqueue(job_id):
            break  # the broker is still down: the next beat tick tries again
        sent += 1
    if sent:
        log.info("requeued %s unclaimed job(s)", sent)
    return sent


def request_cancel(job: Job) -> Job:
    """Ask a running job to stop at its next safe point; a job no worker has claimed stops now."""
    if job.status not in ACTIVE_STATUSES:
        raise errors.JobFailed(errors.CANCEL_NOT_IN_PROGRESS)
    if not job.cancellable:
        # A cancellable operation past its point of no return (a backup recording its point) is "not now".
        raise errors.JobFailed(errors.CANCEL_NOT_NOW if job.operation in registry.CANCELLABLE
                               else errors.CANCEL_NOT_SUPPORTED)
    if not Job.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES, cancellable=True).update(
        cancel_requested=True, status=JobStatus.CANCELLING
    ):
        job.refresh_from_db()
        return request_cancel(job)  # it ended, or stopped being cancellable, meanwhile
    if Job.objects.filter(pk=job.pk, claimed_at__isnull=True).exists():
        _finish(job.pk, JobStatus.CANCELLED, message="The job was cancelled before it started.")
    job.refresh_from_db()
    return job


def retry(job: Job, user) -> Job:
    """Start a NEW job with the same operation, item and parameters as a failed or cancelled one;
    the old job stays as it was (history is never rewritten)."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise errors.JobFailed(
            "Only a failed or cancelled job can be retried - This job is "
            f"{job.get_status_display().lower()}.",
            code="JobNotRetryable",
        )
    return start(
        subscription=job.subscription, operation=job.operation, item_name=job.item_name, item_type=job.item_type,
        item_id=job.item_id, vault_id=job.vault_id, lock_key=job.lock_key, params=job.params, user=user,
    )


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
        _finish(job.pk, JobStatus.CANCELLED, message="Cancelled at the user's request.")
        return
    handler = registry.HANDLERS.get(job.operation)
    log.info("job %s started: %s %s (attempt %s)", job.pk, job.operation, job.item_name, job.attempts + 1)
    try:
        if handler is None:
            raise errors.JobFailed(f"No worker handles the operation {job.operation!r}.", code="UnknownOperation")
        with Heartbeat(job.pk):
            handler(JobContext(job))
    except errors.JobCancelled:
        _finish(job.pk, JobStatus.CANCELLED, message="Cancelled at the user's request. Nothing partial was kept.")
    except errors.JobFailed as failure:
        _finish(job.pk, JobStatus.FAILED, message=failure.message, action=failure.action, code=failure.code)
    except (OperationalError, InterfaceError):
        log.exception("job %s lost its database connection", job.pk)
        _record_lost_database(job.pk)
    except Exception as exc:
        log.exception("job %s failed unexpectedly", job.pk)
        # Only the exception's type: its text may name server paths, which a job never shows.
        _finish(
            job.pk,
            JobStatus.FAILED,
            message=f"{errors.internal_error_for(job.operation)} ({type(exc).__name__})",
            action="Retry the operation in a few minutes.",
            code="InternalError",
        )
    else:
        _finish(job.pk, JobStatus.COMPLETED)


def _record_lost_database(job_id: int, attempts: int = 4) -> None:
    """The handler's connection dropped (database restarted, backend terminated, network cut): open a new one
    and say so, instead of leaving the job to the reaper's "the worker stopped". A database still down after
    a few seconds leaves the job active; the reaper fails it once the database answers again."""
    for attempt in range(attempts):
        connection.close()  # a broken connection is not reused: the next query opens a fresh one
        try:
            if _finish(job_id, JobStatus.FAILED, message=errors.DATABASE_LOST, action=errors.DATABASE_LOST_ACTION,
                       code="DatabaseConnectionLost"):
                _clean_up_lost(job_id)
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
        if not _finish(job_id, JobStatus.FAILED, message=errors.WORKER_LOST, action=errors.WORKER_LOST_ACTION,
                       code="WorkerLost"):
            continue
        count += 1
        _clean_up_lost(job_id)
    return count


def _clean_up_lost(job_id: int) -> None:
    """Run the operation's on-lost hook for a job whose handler could not finish its own clean-up. A hook that
    finds the job's work done after all returns a warning: the job then ends Completed, with the warning in its
    details, instead of Failed."""
    job = Job.objects.get(pk=job_id)
    clean_up = registry.ON_LOST.get(job.operation)
    if clean_up is None:
        return
    try:
        warning = clean_up(job)
    except Exception:
        log.exception("cleaning up after lost job %s failed", job_id)
        return
    if not warning:
        return
    job.refresh_from_db()
    if Job.objects.filter(pk=job_id, status=JobStatus.FAILED).update(
        status=JobStatus.COMPLETED, error_message="", recommended_action="", error_code="", progress_percent=100,
        result=job.result | {"warning": warning},
    ):
        log.info("job %s ended: completed after all (%s)", job_id, warning)
        _notify(Job.objects.get(pk=job_id))


def _finish(job_id: int, status: str, *, message: str = "", action: str = "", code: str = "") -> int:
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
                SubTask.objects.filter(job_id=job_id, status__in=ACTIVE_STATUSES).update(status=status,
                                                                                           ended_at=timezone.now())
            _notify(Job.objects.get(pk=job_id))
    if updated:
        log.info("job %s ended: %s%s", job_id, status, f" ({code})" if code else "")
    return updated


_LEVELS: dict[str, tuple[str, str]] = {
    JobStatus.IN_PROGRESS: (Notification.Level.PROGRESS, "started"),
    JobStatus.CANCELLING: (Notification.Level.PROGRESS, "is being cancelled"),
    JobStatus.COMPLETED: (Notification.Level.SUCCESS, "completed"),
    JobStatus.FAILED: (Notification.Level.ERROR, "failed"),
    JobStatus.CANCELLED: (Notification.Level.INFO, "was cancelled"),
}


def _notify(job: Job) -> None:
    level, verb = _LEVELS[job.status]
    subject = f" for '{job.item_name}'" if job.item_name else ""
    title = f"{job.get_operation_display()} job{subject} {verb}"
    kwargs = {
        "message": job.error_message,
        "level": level,
        "key": f"job-{job.pk}",
        "link_url": reverse("job-detail", args=[job.pk]),
        "link_label": "VIEW JOB",
    }
    if job.created_by is not None:
        notify(job.created_by, title, subscription=job.subscription, **kwargs)
    elif job.scheduled:
        notify_members(job.subscription, title, **kwargs)
