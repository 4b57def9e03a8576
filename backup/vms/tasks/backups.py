"""Celery tasks of backups; each calls one service."""

from celery import shared_task

from ..services import backup, gc, manage

__all__ = ["collect_garbage_all_vaults", "purge_soft_deleted", "run_scheduled_backups"]


@shared_task(name="backup.vms.tasks.run_scheduled_backups")
def run_scheduled_backups(policy_id: int) -> int:
    return len(backup.run_scheduled_backups(policy_id))


@shared_task(name="backup.vms.tasks.collect_garbage_all_vaults")
def collect_garbage_all_vaults() -> int:
    return len(gc.collect_garbage_all_vaults())


@shared_task(name="backup.vms.tasks.purge_soft_deleted")
def purge_soft_deleted() -> int:
    return len(manage.purge_due_items())
