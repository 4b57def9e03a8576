"""`manage.py backup verify|gc`: operators' checks and clean-ups of a vault's store, run as jobs."""

from django.core.management.base import CommandError

from backup.jobs.errors import Refused
from backup.vms.services import operations

from . import resolve
from .errors import refused
from .jobs import started


def verify(user, options, stderr):
    try:
        if options.get("point") and options.get("due"):
            raise CommandError("--due chooses points of a vault: use it with --vault, not --point.")
        if options.get("point"):
            point = resolve.recovery_point(user, options["point"])
            job = operations.start_verify(point.vault, user=user, point=point)
        elif options.get("vault") and options.get("due"):
            job = operations.start_due_verify(resolve.vault(user, options["vault"]), options["due"], user=user)
        elif options.get("vault"):
            job = operations.start_verify(resolve.vault(user, options["vault"]), user=user)
        else:
            raise CommandError("Say what to verify: --vault VAULT or --point RECOVERY_POINT_ID.")
    except Refused as refusal:
        raise refused(refusal) from None
    return started(job, options, stderr)


def gc(user, options, stderr):
    try:
        job = operations.start_gc_now(resolve.vault(user, options["vault"]), user=user)
    except Refused as refusal:
        raise refused(refusal) from None
    return started(job, options, stderr)
