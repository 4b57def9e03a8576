"""Celery tasks of operators' operations; each calls one service."""

from celery import shared_task

from ..services import operations, replication

__all__ = ["replicate_behind_vaults", "reverify_old_points", "verify_new_points"]


@shared_task(name="backup.vms.tasks.verify_new_points")
def verify_new_points() -> int:
    return len(operations.start_scheduled_verifies(operations.SCOPE_NEW))


@shared_task(name="backup.vms.tasks.reverify_old_points")
def reverify_old_points() -> int:
    return len(operations.start_scheduled_verifies(operations.SCOPE_OLD))


@shared_task(name="backup.vms.tasks.replicate_behind_vaults")
def replicate_behind_vaults() -> int:
    return len(replication.catch_up_all_vaults())
