from celery import shared_task

from . import services


@shared_task(name="backup.drills.tasks.start_due_drills", ignore_result=True)
def start_due_drills() -> int:
    return len(services.start_due_drills())
