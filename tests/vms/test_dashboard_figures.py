"""The dashboard's figures, read with SQL built once per process, count what the ORM's own queries count: only this
vault's rows, the 24 hours' jobs from their first second, maintenance left out, and zeros for a vault with nothing."""

from datetime import timedelta

import pytest
from django.db.models import Count, Q, Sum
from django.utils import timezone

from backup.jobs.models import ACTIVE_STATUSES, MAINTENANCE_OPERATIONS, Job, JobStatus, Operation
from backup.vms.models import ProtectedItem, RecoveryPoint
from backup.vms.services import dashboard
from tests.factories import make_protected_item, make_vault

pytestmark = pytest.mark.django_db


def _job(vault, status, started_at, operation=Operation.BACKUP) -> Job:
    return Job.objects.create(
        subscription=vault.subscription,
        vault_id=vault.pk,
        operation=operation,
        status=status,
        started_at=started_at,
        ended_at=None if status in ACTIVE_STATUSES else started_at,
    )


def test_the_job_counts_are_the_orms_for_this_vault_since_the_first_second(alpha):
    vault, other = make_vault(alpha), make_vault(alpha)
    since = timezone.now() - timedelta(hours=24)
    for status in (JobStatus.COMPLETED, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLING):
        _job(vault, status, since + timedelta(minutes=5))
    _job(vault, JobStatus.IN_PROGRESS, since)  # exactly at the start of the window: counted
    _job(vault, JobStatus.FAILED, since - timedelta(microseconds=1))  # just before it: not counted
    _job(vault, JobStatus.COMPLETED, since + timedelta(hours=1), operation=Operation.GARBAGE_COLLECTION)
    _job(other, JobStatus.FAILED, since + timedelta(hours=1))

    expected = (
        Job.objects.filter(vault_id=vault.pk, started_at__gte=since)
        .exclude(operation__in=MAINTENANCE_OPERATIONS)
        .aggregate(
            completed=Count("id", filter=Q(status=JobStatus.COMPLETED)),
            failed=Count("id", filter=Q(status=JobStatus.FAILED)),
            in_progress=Count("id", filter=Q(status__in=ACTIVE_STATUSES)),
        )
    )
    assert Job.objects.counts_since(vault.pk, since) == expected == {"completed": 2, "failed": 1, "in_progress": 2}
    assert Job.objects.counts_since(other.pk, since) == {"completed": 0, "failed": 1, "in_progress": 0}


def test_a_vault_with_nothing_shows_zeros(alpha):
    vault = make_vault(alpha)
    summary = dashboard.summary(vault, since=timezone.now() - timedelta(hours=24))
    assert summary["jobs"] == {"completed": 0, "failed": 0, "in_progress": 0}
    assert (summary["registered_vms"], summary["protected_vms"], summary["stopped_vms"]) == (0, 0, 0)
    assert (summary["recovery_points"], summary["logical_bytes"], summary["stored_bytes"]) == (0, 0, 0)


def test_items_and_points_are_the_orms_for_this_vault(alpha):
    vault, other = make_vault(alpha), make_vault(alpha)
    items = [make_protected_item(alpha, vault, name=f"vm-{i}") for i in range(3)]
    make_protected_item(alpha, other, name="elsewhere")
    ProtectedItem.objects.filter(pk=items[0].pk).update(status=ProtectedItem.Status.STOPPED)
    now = timezone.now()
    for i, item in enumerate(items):
        for day in range(2):
            RecoveryPoint.objects.create(
                vault=vault,
                protected_item=item,
                vm_name=item.vm_name,
                point_id=f"p{i}-{day}",
                consistency="crash",
                created_at=now - timedelta(days=day),
                logical_bytes=1000 + i,
                stored_bytes_new=10 * (i + 1),
            )

    summary = dashboard.summary(vault, since=now - timedelta(hours=24))
    assert (summary["protected_vms"], summary["stopped_vms"]) == (2, 1)
    points = RecoveryPoint.objects.filter(vault=vault).aggregate(
        n=Count("id"), logical=Sum("logical_bytes"), stored=Sum("stored_bytes_new")
    )
    assert (summary["recovery_points"], summary["logical_bytes"], summary["stored_bytes"]) == (
        points["n"],
        points["logical"],
        points["stored"],
    )
    by_day = dashboard.points_by_day(vault)
    assert set(by_day) == {now.date(), (now - timedelta(days=1)).date()}
    assert by_day[now.date()] == dashboard.DayOfPoints(logical=3003, stored=60, points=3)
