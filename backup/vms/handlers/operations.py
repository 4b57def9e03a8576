"""Job handlers of operators' operations: Verify; see backup/jobs/registry.py."""

from backup.jobs.context import JobContext
from backup.jobs.models import Operation
from backup.jobs.registry import handler

from ..services import operations


@handler(Operation.VERIFY)
def verify_backup_data(ctx: JobContext) -> None:
    with ctx.step("Verify backup data"):
        report = operations.verify_vault(ctx.job.vault_id, ctx.job.params.get("point_ids") or None,
                                         scheduled=bool(ctx.job.params.get("scope")))
    ctx.set_result(points_checked=len(report.points_checked), chunks_checked=report.chunks_checked)
