"""The request side of jobs: record a job and queue it, ask it to stop, retry it.

Three layers, each importing only those below it: this module (what a request calls), backup/jobs/tasks.py
(the Celery tasks and the queue) and backup/jobs/runner.py (what a worker does with a job, and how any job
ends: `finish` and its notification, which a cancel before any worker claimed the job also uses)."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import errors, registry
from .locks import Subject
from .models import ACTIVE_STATUSES, Job, JobStatus
from .runner import finish, notify
from .tasks import enqueue, requeue_unclaimed

NO_SUBJECT = Subject()

__all__ = ["Subject", "enqueue", "request_cancel", "requeue_unclaimed", "retry", "start"]


def start(
    *,
    subscription,
    operation: str,
    subject: Subject = NO_SUBJECT,
    lock_key: str | None = None,
    params: dict | None = None,
    user=None,
    scheduled: bool = False,
    busy_message: str | None = None,
) -> Job:
    """Record a job about `subject` and queue it for a worker once the transaction commits.

    When another active job holds the same lock key, the new job is recorded as Failed with the
    product's "another operation is in progress" message of that operation instead of running beside it.
    """
    fields = {
        "subscription": subscription,
        "operation": operation,
        "item_name": subject.item_name,
        "item_type": subject.item_type,
        "item_id": subject.item_id,
        "item_parent": subject.item_parent,
        "vault_id": subject.vault_id,
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
        notify(job)
        return job
    notify(job)  # before the queueing: outside a transaction on_commit runs now, and a quick job's end must win
    transaction.on_commit(lambda: enqueue(job.pk))
    return job


def request_cancel(job: Job) -> Job:
    """Ask a running job to stop at its next safe point; a job no worker has claimed stops now."""
    if job.status not in ACTIVE_STATUSES:
        raise errors.Refused(errors.CANCEL_NOT_IN_PROGRESS)
    if not job.cancellable:
        # A cancellable operation past its point of no return (a backup recording its point) is "not now".
        raise errors.Refused(
            errors.CANCEL_NOT_NOW if job.operation in registry.CANCELLABLE else errors.CANCEL_NOT_SUPPORTED
        )
    if not Job.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES, cancellable=True).update(
        cancel_requested=True, status=JobStatus.CANCELLING
    ):
        job.refresh_from_db()
        return request_cancel(job)  # it ended, or stopped being cancellable, meanwhile
    if Job.objects.filter(pk=job.pk, claimed_at__isnull=True).exists():
        finish(job.pk, JobStatus.CANCELLED, message="The job was cancelled before it started.")
    job.refresh_from_db()
    return job


def retry(job: Job, user) -> Job:
    """Start a NEW job with the same operation, item and parameters as a failed or cancelled one;
    the old job stays as it was (history is never rewritten)."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise errors.Refused(
            f"Only a failed or cancelled job can be retried - This job is {job.get_status_display().lower()}.",
            code="JobNotRetryable",
        )
    return start(
        subscription=job.subscription,
        operation=job.operation,
        subject=Subject(
            vault_id=job.vault_id,
            item_type=job.item_type,
            item_id=job.item_id,
            item_name=job.item_name,
            item_parent=job.item_parent,
        ),
        lock_key=job.lock_key,
        params=job.params,
        user=user,
    )
