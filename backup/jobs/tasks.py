from celery import shared_task

from . import services


@shared_task(acks_late=True)
def run_job(job_id: int) -> None:
    services.run(job_id)


@shared_task
def reap_lost_jobs() -> int:
    return services.reap_lost_jobs()


@shared_task
def requeue_unclaimed_jobs() -> int:
    return services.requeue_unclaimed()
