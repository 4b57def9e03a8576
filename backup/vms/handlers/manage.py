"""Job handlers of restore and management: Restore (cancellable), Stop Protection, Delete Backup Data,
Unregister and Delete Vault; see backup/jobs/registry.py and the services they call."""

from backup.jobs.context import JobContext
from backup.jobs.models import Operation
from backup.jobs.registry import handler

from ..services import manage, restore


@handler(Operation.RESTORE, cancellable=True, on_lost=restore.clean_up_lost_restore)
def run_restore(ctx: JobContext) -> None:
    restore.run_restore(ctx)


@handler(Operation.STOP_PROTECTION)
def run_stop_protection(ctx: JobContext) -> None:
    manage.run_stop_protection(ctx)


@handler(Operation.DELETE_BACKUP_DATA)
def run_delete_backup_data(ctx: JobContext) -> None:
    manage.run_delete_backup_data(ctx)


@handler(Operation.UNREGISTER)
def run_unregister(ctx: JobContext) -> None:
    manage.run_unregister(ctx)


@handler(Operation.DELETE_VAULT)
def run_delete_vault(ctx: JobContext) -> None:
    manage.run_delete_vault(ctx)
