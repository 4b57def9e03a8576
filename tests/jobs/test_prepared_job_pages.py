"""The Jobs page, its poll and the jobs API read their pages with SQL built once per shape of filters
(backup/jobs/pages.py): the same rows, order and count as the ORM's page for every shape, page and order."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backup.jobs import pages
from backup.jobs.filters import SORTS
from backup.jobs.models import Job, JobStatus, Operation
from tests.factories import make_vault

FIELDS = ("id", "item_name", "status", "operation", "started_at")
STATUSES = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.IN_PROGRESS, JobStatus.CANCELLED]
OPERATIONS = [Operation.BACKUP, Operation.RESTORE, Operation.PRUNE]


@pytest.fixture
def jobs(alpha):
    vault = make_vault(alpha, name="Payroll")
    other = make_vault(alpha, name="Other")
    now = timezone.now()
    for i in range(41):  # ties in the start time (the id decides), over ten days, of each operation and status
        for where in (vault, other) if i % 5 == 0 else (vault,):
            Job.objects.create(
                subscription=alpha,
                vault_id=where.pk,
                item_name=f"vm-{i % 7}",
                item_type="vm",
                operation=OPERATIONS[i % 3],
                status=STATUSES[i % 4],
                started_at=now - timedelta(hours=(i // 3) * 6),
            )
    return vault, now


def _filters(now, **given):
    filters = {
        "operation": "",
        "status": "",
        "item": "",
        "since": now - timedelta(days=7),
        "until": None,
        "maintenance": False,
        "order": ("-started_at", "-id"),
    }
    return filters | given


def _expected(vault_id, filters, number, per_page):
    page = Job.objects.page_of(Job.objects.for_vault_page(vault_id, **filters), number, per_page, fields=FIELDS)
    return page.paginator.count, page.number, [job.pk for job in page.object_list]


def _shapes(now):
    yield {}
    yield {"since": now - timedelta(hours=24)}
    yield {"since": now - timedelta(days=9), "until": now - timedelta(days=2)}
    yield {"since": None}
    yield {"operation": Operation.RESTORE}
    yield {"operation": Operation.PRUNE}
    yield {"maintenance": True}
    yield {"status": JobStatus.FAILED}
    yield {"status": JobStatus.IN_PROGRESS}
    yield {"status": JobStatus.CANCELLED, "operation": Operation.BACKUP, "maintenance": True}
    for fields in SORTS.values():
        yield {"order": fields}
        yield {"order": (fields[0].lstrip("-") if fields[0].startswith("-") else f"-{fields[0]}", *fields[1:])}


@pytest.mark.django_db
def test_every_shape_and_page_holds_the_rows_the_orm_page_holds(jobs):
    vault, now = jobs
    for given in _shapes(now):
        filters = _filters(now, **given)
        for number in (1, 2, 3, 4, 99, "last", "bogus"):
            count, at, ids = _expected(vault.pk, filters, number, 6)
            page = pages.vault_page(vault.pk, filters, number, 6, fields=FIELDS)
            assert (page.paginator.count, page.number) == (count, at), (given, number)
            assert [job.pk for job in page.object_list] == ids, (given, number)


@pytest.mark.django_db
def test_the_api_page_gives_the_same_rows_as_dicts_of_the_fields(jobs):
    vault, now = jobs
    for given in ({}, {"status": JobStatus.FAILED}, {"order": ("started_at", "id")}):
        filters = _filters(now, **given)
        for number in (1, 3):
            expected = Job.objects.page_of(
                Job.objects.for_vault_page(vault.pk, **filters), number, 6, fields=FIELDS, values=True
            )
            page = pages.vault_page(vault.pk, filters, number, 6, fields=FIELDS, values=True)
            assert page.object_list == list(expected.object_list)


@pytest.mark.django_db
def test_an_empty_vault_and_an_item_search_and_a_natural_order_give_the_orm_page(jobs, alpha):
    vault, now = jobs
    empty = make_vault(alpha, name="Empty")
    page = pages.vault_page(empty.pk, _filters(now), 1, 6, fields=FIELDS)
    assert (page.paginator.count, list(page.object_list)) == (0, [])
    searched = pages.vault_page(vault.pk, _filters(now, item="M-3"), 1, 6, fields=FIELDS)
    assert [job.pk for job in searched.object_list] == _expected(vault.pk, _filters(now, item="M-3"), 1, 6)[2]
    assert {job.item_name for job in searched.object_list} == {"vm-3"}
    natural = pages.vault_page(vault.pk, _filters(now), 1, 6, ("item_name", False), fields=FIELDS)
    assert [job.item_name for job in natural.object_list] == sorted(job.item_name for job in natural.object_list)


@pytest.mark.django_db
def test_a_vaults_page_never_holds_another_vaults_jobs(jobs, alpha):
    vault, now = jobs
    other = Job.objects.exclude(vault_id=vault.pk).first().vault_id
    mine = {job.pk for job in pages.vault_page(vault.pk, _filters(now, since=None), 1, 100, fields=FIELDS).object_list}
    theirs = {job.pk for job in pages.vault_page(other, _filters(now, since=None), 1, 100, fields=FIELDS).object_list}
    assert mine == set(Job.objects.filter(vault_id=vault.pk).exclude(operation="prune").values_list("id", flat=True))
    assert theirs and not mine & theirs


@pytest.mark.django_db
def test_the_poll_gives_the_jobs_started_after_the_newest_shown_under_the_filters(jobs):
    vault, now = jobs
    filters = _filters(now)
    shown = pages.vault_page(vault.pk, filters, 1, 6, fields=FIELDS).object_list
    newest = max(job.pk for job in shown)
    assert pages.jobs_since(vault.pk, filters, newest, FIELDS, 50) == []
    fresh = [
        Job.objects.create(
            subscription=vault.subscription,
            vault_id=vault.pk,
            item_name="web01",
            item_type="vm",
            operation=operation,
            status=JobStatus.IN_PROGRESS,
            started_at=timezone.now(),
        )
        for operation in (Operation.BACKUP, Operation.PRUNE, Operation.RESTORE)
    ]
    assert [job.pk for job in pages.jobs_since(vault.pk, filters, newest, FIELDS, 50)] == [fresh[2].pk, fresh[0].pk]
    restores = _filters(now, operation=Operation.RESTORE)
    assert [job.pk for job in pages.jobs_since(vault.pk, restores, newest, FIELDS, 50)] == [fresh[2].pk]
    assert [job.pk for job in pages.jobs_since(vault.pk, filters, newest, FIELDS, 1)] == [fresh[2].pk]
    # The newest job shown is gone (deleted with its vault's data, say): nothing bounds the poll.
    Job.objects.filter(pk=newest).delete()
    after = Job.objects.for_vault_page(vault.pk, **filters).filter(pk__gt=newest).values_list("id", flat=True)
    assert [job.pk for job in pages.jobs_since(vault.pk, filters, newest, FIELDS, 50)] == list(after[:50])
    assert len(after) > 2  # the fixture's later ids started earlier: unbounded, the poll finds them too
    assert {job.pk for job in pages.jobs_since(vault.pk, filters, 0, FIELDS, 50)} >= {fresh[0].pk, fresh[2].pk}


@pytest.mark.django_db
def test_past_its_bound_the_cache_of_built_queries_starts_again_and_pages_stay_right(jobs, monkeypatch):
    vault, now = jobs
    monkeypatch.setattr(pages, "_MAX_PREPARED", 3)
    for number in range(1, 8):
        page = pages.vault_page(vault.pk, _filters(now), number, 3, fields=FIELDS)
        assert [job.pk for job in page.object_list] == _expected(vault.pk, _filters(now), number, 3)[2]
        assert len(pages._prepared) <= 3
