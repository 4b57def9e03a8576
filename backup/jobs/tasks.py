"""The Celery tasks of jobs, and the queue between a request and the runner. A request may always be
recorded: with the broker down the job waits, unclaimed, until requeue_unclaimed() sends it again."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import runner
from .models import ACTIVE_STATUSES, Job

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def run_job(job_id: int) -> None:
    runner.run(job_id)


@shared_task
def reap_lost_jobs() -> int:
    return runner.reap_lost_jobs()


@shared_task
def requeue_unclaimed_jobs() -> int:
    return requeue_unclaimed()


def enqueue(job_id: int) -> bool:
    """Send a job to the workers. With the broker down the job stays recorded (In progress, unclaimed) and
    requeue_unclaimed() sends it again once the broker is back: a request never fails because of the queue."""
    try:
        run_job.delay(job_id)
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
