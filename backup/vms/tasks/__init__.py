"""Celery tasks of the vms app (thin: each calls one service). Celery's autodiscovery imports
this package, so every task module is imported here."""

from .backups import *  # noqa: F403
from .inventory import *  # noqa: F403
from .operations import *  # noqa: F403
