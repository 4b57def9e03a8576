"""Starting Backup jobs: on demand (BACK UP NOW) and on the policy's schedule.

A Backup job is one row in the jobs app, locked on `vm:<vm id>` so only one operation per machine runs at a
time; the job itself is backup.back_up_vm.
"""

from __future__ import annotations

from django.db import transaction

from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.errors import Refused
from backup.jobs.locks import Subject
from backup.jobs.models import Job, Operation

from ..models import ProtectedItem
from .backup_messages import PROTECTION_STOPPED, PROTECTION_STOPPED_ACTION


def _start_backup(item: ProtectedItem, *, user=None, scheduled: bool = False) -> Job:
    return jobs.start(
        subscription=item.vault.subscription,
        operation=Operation.BACKUP,
        subject=Subject.of_item(item),
        lock_key=locks.protected_item(item.vm_id, item.pk),
        params={"protected_item_id": item.pk},
        user=user,
        scheduled=scheduled,
    )


def back_up_now(item: ProtectedItem, user) -> Job:
    """BACK UP NOW: start an on-demand Backup job for a protected item (queued once committed)."""
    if item.status == ProtectedItem.Status.STOPPED:
        raise Refused(PROTECTION_STOPPED, PROTECTION_STOPPED_ACTION, code="ProtectionStopped")
    return _start_backup(item, user=user)


def run_scheduled_backups(policy_id: int) -> list[Job]:
    """The policy's scheduled time has come: one Backup job per item it protects (not stopped)."""
    items = (
        ProtectedItem.objects.filter(policy_id=policy_id)
        .exclude(status=ProtectedItem.Status.STOPPED)
        .select_related("vault__subscription")
        .order_by("pk")
    )
    started = []
    for item in items:
        with transaction.atomic():
            started.append(_start_backup(item, scheduled=True))
    return started
