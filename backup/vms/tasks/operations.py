"""Celery tasks of operators' operations; each calls one service."""

from celery import shared_task

from ..services import operations

__all__ = ["reverify_old_points", "verify_new_points"]


@shared_task(name="backup.vms.tasks.verify_new_points")
def verify_new_points() -> int:
    return len(operations.start_scheduled_verifies(operations.SCOPE_NEW))


@shared_task(name="backup.vms.tasks.reverify_old_points")
def reverify_old_points() -> int:
    return len(operations.start_scheduled_verifies(operations.SCOPE_OLD))
