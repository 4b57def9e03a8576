"""Job handlers of the vaults app, registered with the jobs runner when the app is ready."""

from backup.jobs.context import JobContext
from backup.jobs.models import Operation
from backup.jobs.registry import handler

from . import services


@handler(Operation.CREATE_VAULT, on_lost=services.fail_lost_creation)
def run_create_vault(ctx: JobContext) -> None:
    services.run_create_vault(ctx)
