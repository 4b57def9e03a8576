"""Lists that scale: one search box, sortable column headers and a pager, read from and kept in the URL.

Every list page (inventory, vaults, registered and protected items) builds a ListQuery from request.GET
with its columns, and renders templates/portal/partials/list_controls.html and list_pager.html.

Names sort naturally (cap-2 before cap-10). No SQL expression does that on both SQLite and PostgreSQL, so
the query first reads only (id, sort value) of the matching rows, sorts those in Python, then loads the
page's rows by id: a few milliseconds for ten thousand rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import QueryDict

PAGE_SIZE = 25
_DIGITS = re.compile(r"(\d+)")


def natural_key(value: Any) -> tuple:
    """A sort key for any cell value: text splits into text and numbers ("cap-10" -> "cap-", 10, ""), so
    numbers inside names compare as numbers; empty cells sort last."""
    if value is None or value == "":
        return (1,)
    if isinstance(value, str):
        return (0, tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(_DIGITS.split(value))))
    return (0, value)


@dataclass(frozen=True)
class Column:
    key: str  # in the URL: ?sort=key or ?sort=-key
    label: str
    field: str  # the model field, lookup or annotation it sorts by
    css: str = ""


@dataclass
class Header:
    label: str
    key: str
    url: str
    aria_sort: str  # "ascending", "descending" or "none" (ARIA)
    css: str = ""


@dataclass
class ListQuery:
    params: QueryDict
    columns: list[Column]
    search_fields: list[str]
    default_sort: str = ""
    page_size: int = PAGE_SIZE
    extra_sort: list[str] = field(default_factory=list)  # breaks ties, e.g. the cloud service after the name

    @property
    def search(self) -> str:
        return (self.params.get("q") or "").strip()[:200]

    @property
    def sort(self) -> tuple[Column, bool]:
        """The chosen column and whether it is descending; an unknown key falls back to the default."""
        by_key = {column.key: column for column in self.columns}
        for wanted in (self.params.get("sort") or "", self.default_sort or self.columns[0].key):
            column = by_key.get(wanted.lstrip("-"))
            if column is not None:
                return column, wanted.startswith("-")
        return self.columns[0], False

    def filtered(self, queryset: QuerySet) -> QuerySet:
        words = self.search
        if not words:
            return queryset
        match = Q()
        for name in self.search_fields:
            match |= Q(**{f"{name}__icontains": words})
        return queryset.filter(match)

    def page(self, queryset: QuerySet) -> Page:
        """The page asked for (the last one when past the end) of the matching rows, sorted; its
        object_list holds the model instances as `queryset` builds them."""
        column, descending = self.sort
        ties = [name for name in self.extra_sort if name != column.field]
        rows = list(self.filtered(queryset).values_list("pk", column.field, *ties))
        if descending:  # ties keep ascending order whatever the direction, as a spreadsheet does
            rows.sort(key=lambda row: tuple(natural_key(v) for v in row[2:]) + (row[0],))
            rows.sort(key=lambda row: natural_key(row[1]), reverse=True)
        else:
            rows.sort(key=lambda row: tuple(natural_key(v) for v in row[1:]) + (row[0],))
        ids = list(dict.fromkeys(row[0] for row in rows))  # a to-many sort field repeats a row
        page = Paginator(ids, self.page_size).get_page(self.params.get("page"))
        wanted = list(page.object_list)
        loaded = queryset.in_bulk(wanted) if wanted else {}
        page.object_list = [loaded[pk] for pk in wanted if pk in loaded]
        return page

    def url(self, **changes: Any) -> str:
        """This list's query string with some parameters changed (None drops one): links keep the filters."""
        query = self.params.copy()
        for name, value in changes.items():
            query.pop(name, None)
            if value not in (None, ""):
                query[name] = str(value)
        encoded = query.urlencode()
        return f"?{encoded}" if encoded else "?"

    def headers(self) -> list[Header]:
        column, descending = self.sort
        headers = []
        for each in self.columns:
            if each.key == column.key:
                aria = "descending" if descending else "ascending"
                target = each.key if descending else f"-{each.key}"
            else:
                aria, target = "none", each.key
            headers.append(Header(each.label, each.key, self.url(sort=target, page=None), aria, each.css))
        return headers

    def context(self, queryset: QuerySet) -> dict:
        """What the list templates need: the page, the headers, the search and links that keep both."""
        page = self.page(queryset)
        return {
            "page": page,
            "rows": page.object_list,
            "headers": self.headers(),
            "search": self.search,
            "list": self,
            "page_urls": _page_urls(self, page),
            "clear_url": self.url(q=None, page=None),
        }


def _page_urls(query: ListQuery, page: Page) -> dict:
    urls = {}
    if page.has_previous():
        urls["previous"] = query.url(page=page.previous_page_number())
    if page.has_next():
        urls["next"] = query.url(page=page.next_page_number())
    return urls
