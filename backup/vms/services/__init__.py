"""The vms app's services, one module per flow: discovery, registration, protection, policies,
backups, restores and management. Views, API and tasks call these; they call engine and fabric."""


def register_jobs() -> None:
    """Each job kind is declared beside the service that owns its operation (`@handler(Operation.X)`):
    importing the service modules registers their jobs with the jobs runner."""
    from . import (  # noqa: F401
        backup,
        discovery,
        gc,
        manage,
        operations,
        protection,
        registration,
        replication,
        restore,
        retention,
    )
