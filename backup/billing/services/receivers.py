"""Usage follows what happened: a backup's end (or a stop of protection) re-meters its item's day at once."""

from django.dispatch import receiver

from backup.jobs.models import Job, JobStatus, Operation
from backup.jobs.signals import job_finished

from .usage import meter_item

METERED_OPERATIONS = (Operation.BACKUP, Operation.STOP_PROTECTION)


@receiver(job_finished)
def _meter_on_job_end(sender, job: Job, **kwargs) -> None:
    item_pk = (job.params or {}).get("protected_item_id")
    if job.operation in METERED_OPERATIONS and job.status == JobStatus.COMPLETED and item_pk:
        meter_item(item_pk)
