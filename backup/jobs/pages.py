"""A vault's pages of jobs (the Jobs page, its poll, the jobs API), with SQL built once per shape of filters.

`JobQuerySet.for_vault_page` + `page_of` build three queries for a page (the count, then the page's ids and rows in
one) through the ORM, which cost more CPU than the database took to answer them. The filters chosen (which of
operation, status and time range are set, the order) fix each query's SQL but for its values, and a page's
offset fixes the rest: each is a `Prepared` query (backup/tenancy/prepared.py), built the first time and run
again with the request's values. An item search (any part of the name, which the ORM rewrites into a pattern) and
the natural orders of the name columns go through `page_of` as before. Same rows, same order, same count.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.paginator import Page, Paginator
from django.db.models import Count, DateTimeField, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from backup.tenancy.prepared import Prepared

from .models import Job, JobStatus, id_window

# Shapes of filters x offsets: a few dozen in use; forgotten all at once past this (each is a query built again).
_MAX_PREPARED = 512
_prepared: dict[tuple, Prepared] = {}
_EPOCH = Value(datetime(1970, 1, 1, tzinfo=UTC), output_field=DateTimeField())


def _shape(filters: dict) -> tuple | None:
    """What fixes the SQL of `for_vault_page(**filters)` but for its values; None when a value changes the SQL."""
    if filters["item"]:
        return None
    status = filters["status"]
    return (
        bool(filters["operation"]),
        "active" if status == JobStatus.IN_PROGRESS else bool(status),
        filters["since"] is not None,
        filters["until"] is not None,
        bool(filters["maintenance"]),
        tuple(filters["order"]),
    )


def _values(vault_id: int, filters: dict, shape: tuple) -> tuple[list, list[type]]:
    """The values the shape's SQL takes, and their kinds."""
    has_operation, status, has_since, has_until = shape[:4]
    given = [
        (vault_id, int),
        (str(filters["operation"]), str) if has_operation else None,  # a member of Operation is its value
        (str(filters["status"]), str) if status is True else None,
        (filters["since"], datetime) if has_since else None,
        (filters["until"], datetime) if has_until else None,
    ]
    taken = [value for value in given if value is not None]
    return [value for value, _ in taken], [kind for _, kind in taken]


def _jobs(shape: tuple, values) -> QuerySet:
    """`for_vault_page` with the values in the order `_values` gives them (placeholders when compiling)."""
    has_operation, status, has_since, has_until, maintenance, order = shape
    given = iter(values)
    vault_id = next(given)
    return Job.objects.for_vault_page(
        vault_id,
        operation=next(given) if has_operation else "",
        status=next(given) if status is True else JobStatus.IN_PROGRESS if status == "active" else "",
        since=next(given) if has_since else None,
        until=next(given) if has_until else None,
        maintenance=maintenance,
        order=order,
    )


def _query(key: tuple, build, kinds: list[type]) -> Prepared:
    prepared = _prepared.get(key)
    if prepared is None:
        if len(_prepared) >= _MAX_PREPARED:
            _prepared.clear()
        prepared = _prepared[key] = Prepared(Job, build, *kinds)
    return prepared


class _Counted:
    """What the Paginator needs of the jobs: their count (already read); the page's rows are read apart."""

    def __init__(self, count: int) -> None:
        self._count = count

    def count(self) -> int:
        return self._count

    def __getitem__(self, window):
        return []


def vault_page(
    vault_id: int,
    filters: dict,
    number,
    per_page: int,
    natural: tuple[str, bool] | None = None,
    fields: tuple[str, ...] = (),
    values: bool = False,
) -> Page:
    """`Job.objects.page_of(Job.objects.for_vault_page(vault_id, **filters), number, per_page, natural, fields,
    values)`: the same page."""
    shape = _shape(filters) if natural is None and fields and type(vault_id) is int else None
    if shape is None:
        jobs = Job.objects.for_vault_page(vault_id, **filters)
        return Job.objects.page_of(jobs, number, per_page, natural, fields=fields, values=values)
    args, kinds = _values(vault_id, filters, shape)

    def count(*given):
        return _jobs(shape, given).order_by().values("vault_id").annotate(n=Count("id")).values_list("n")

    counted = _query(("count", shape), count, kinds)(*args)
    page = Paginator(_Counted(counted[0][0] if counted else 0), per_page).get_page(number)
    if not page.paginator.count:
        page.object_list = []
        return page
    offset, limit, backwards = id_window(page, shape[5])

    def rows(*given):
        jobs = _jobs(shape, given)
        ids = (jobs.reverse() if backwards else jobs).values_list("id", flat=True)[offset : offset + limit]
        found = Job.objects.values_list(*fields) if values else Job.objects.only(*fields)
        return found.filter(pk__in=ids).order_by(*shape[5])

    found = _query(("rows", shape, offset, limit, backwards, fields, values), rows, kinds)(*args)
    page.object_list = [dict(zip(fields, row, strict=True)) for row in found] if values else found
    return page


def jobs_since(vault_id: int, filters: dict, newer_than: int, fields: tuple[str, ...], limit: int) -> list[Job]:
    """The Jobs page's poll: the jobs after `newer_than` under the filters, newest first, at most `limit`. The start of
    the newest job shown bounds the index scan (nothing newer means reading no rows at all); it is read in the same
    query, and a job that is gone (or none shown: 0) bounds nothing."""
    shape = _shape(filters) if type(vault_id) is int and type(newer_than) is int else None

    def fresh(jobs: QuerySet, newer_a: int, newer_b: int) -> QuerySet:
        newest_start = Subquery(Job.objects.filter(pk=newer_b).values("started_at")[:1])
        return jobs.filter(pk__gt=newer_a, started_at__gte=Coalesce(newest_start, _EPOCH)).only(*fields)[:limit]

    if shape is None:
        return list(fresh(Job.objects.for_vault_page(vault_id, **filters), newer_than, newer_than))
    args, kinds = _values(vault_id, filters, shape)

    def build(*given):
        return fresh(_jobs(shape, given[:-2]), *given[-2:])

    return _query(("since", shape, fields, limit), build, [*kinds, int, int])(*args, newer_than, newer_than)
