"""Job handlers of the Discover -> Register -> Protect flow; see backup/jobs/registry.py."""

from backup.jobs.context import JobContext
from backup.jobs.models import Operation
from backup.jobs.registry import handler
from backup.vaults.models import Vault

from ..services import discovery, protection, registration


@handler(Operation.DISCOVERY)
def run_discovery(ctx: JobContext) -> None:
    vault = Vault.objects.get(pk=ctx.job.vault_id)
    with ctx.step("Discover virtual machines"):
        found = discovery.discover(vault)
    ctx.set_result(**{"Virtual machines found": found["virtual_machines_found"],
                      "Newly discovered": found["newly_discovered"]})


@handler(Operation.REGISTER)
def run_registration(ctx: JobContext) -> None:
    registration.register(ctx)


@handler(Operation.CONFIGURE_PROTECTION)
def run_configure_protection(ctx: JobContext) -> None:
    protection.configure_protection(ctx)
