"""Job handlers of the vms app, registered with the jobs runner when the app is ready."""

from . import backups, inventory, manage, operations  # noqa: F401
