"""The Jobs page's filters (operation, status, item, time range), read from the URL's query string.

The same form validates the web page and the API, so a bad value gets the same field error in both.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator
from django.utils.translation import get_language

from .models import JobStatus, Operation

_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class Remembered:
    """A widget drawn once per value and remembered. Django draws a widget through templates (a select: one per
    option), about a millisecond for the filters of every Jobs page; the HTML depends only on the widget, the name,
    the value as typed, the attributes, the choices and the language, which make the key."""

    def render(self, name, value, attrs=None, renderer=None):
        if value is not None and not isinstance(value, str | bool):
            return super().render(name, value, attrs, renderer)  # a value from `initial`: drawn each time
        key = (
            type(self),
            type(renderer),
            name,
            value,
            tuple(sorted({**self.attrs, **(attrs or {})}.items())),
            tuple(map(tuple, getattr(self, "choices", ()))),
            get_language(),
        )
        html = _DRAWN.get(key)
        if html is None:
            if len(_DRAWN) >= 1024:
                _DRAWN.clear()
            html = _DRAWN[key] = super().render(name, value, attrs, renderer)
        return html


_DRAWN: dict[tuple, str] = {}


class RememberedSelect(Remembered, forms.Select):
    pass


class RememberedCheckbox(Remembered, forms.CheckboxInput):
    pass


class RememberedDateTime(Remembered, forms.DateTimeInput):
    pass


class FixedChoices(BaseChoiceIterator):
    """Choices that never change, shared by every form. Django deep-copies a form's fields for each form, and a
    choice field's choices with them (a third of the CPU of building the filters of a Jobs page or a poll)."""

    def __init__(self, choices) -> None:
        self.choices = tuple((value, label) for value, label in choices)

    def __iter__(self):
        return iter(self.choices)

    def __len__(self) -> int:
        return len(self.choices)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


_PICKER = RememberedDateTime(attrs={"type": "datetime-local"})
RANGES = [("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("custom", "Custom range")]
PAGE_SIZE = 50
# The sortable columns of the Jobs page: URL key -> ORDER BY (ties: newest first). Kept to indexed or small
# sorts: the page must stay fast with hundreds of thousands of jobs.
SORTS = {
    "item": ("item_name", "-started_at"),
    "cloud": ("item_parent", "-started_at"),
    "operation": ("operation", "-started_at"),
    "status": ("status", "-started_at"),
    "start": ("started_at", "id"),
}
NATURAL_SORTS = {"item": "item_name", "cloud": "item_parent"}
SORT_LABELS = [
    ("item", "ITEM"),
    ("cloud", "CLOUD SERVICE"),
    ("operation", "OPERATION"),
    ("status", "STATUS"),
    ("start", "START TIME"),
]


class JobFilterForm(forms.Form):
    operation = forms.ChoiceField(
        choices=FixedChoices([("", "All operations"), *Operation.choices]), required=False, widget=RememberedSelect
    )
    status = forms.ChoiceField(
        choices=FixedChoices([("", "All statuses"), *JobStatus.choices]), required=False, widget=RememberedSelect
    )
    item = forms.CharField(max_length=200, required=False, strip=True)
    range = forms.ChoiceField(choices=FixedChoices(RANGES), required=False, widget=RememberedSelect)
    start = forms.DateTimeField(required=False, label="From", widget=_PICKER, input_formats=_FORMATS)
    end = forms.DateTimeField(required=False, label="To", widget=_PICKER, input_formats=_FORMATS)
    maintenance = forms.BooleanField(required=False, label="Show maintenance jobs", widget=RememberedCheckbox)
    page = forms.IntegerField(required=False, min_value=1)
    sort = forms.ChoiceField(
        choices=FixedChoices((prefix + key, key) for key in SORTS for prefix in ("", "-")), required=False
    )
    # The first page's poll asks only for the jobs started since the newest one it shows.
    newer_than = forms.IntegerField(required=False, min_value=0)

    def clean(self):
        data = super().clean()
        data["range"] = data.get("range") or "24h"
        if data["range"] == "custom":
            if not data.get("start"):
                self.add_error("start", "Choose the start of the custom time range.")
            if data.get("start") and data.get("end") and data["end"] <= data["start"]:
                self.add_error("end", "The end of the time range must be after its start.")
        return data

    def window(self, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
        """(since, until) of the chosen time range; the default is the last 24 hours."""
        now = now or timezone.now()
        data = getattr(self, "cleaned_data", {}) or {}
        chosen = data.get("range") or "24h"
        if chosen == "7d":
            return now - timedelta(days=7), None
        if chosen == "custom" and data.get("start"):
            return data["start"], data.get("end")
        return now - timedelta(hours=24), None

    def filters(self) -> dict:
        data = getattr(self, "cleaned_data", {}) or {}
        since, until = self.window()
        return {
            "operation": data.get("operation") or "",
            "status": data.get("status") or "",
            "item": data.get("item") or "",
            "since": since,
            "until": until,
            "maintenance": bool(data.get("maintenance")),
            "order": self.order(),
        }

    def order(self) -> tuple[str, ...]:
        sort = (getattr(self, "cleaned_data", {}) or {}).get("sort") or ""
        if not sort:
            return ("-started_at", "-id")
        fields = SORTS[sort.lstrip("-")]
        if sort.startswith("-"):
            return (_flip(fields[0]), *fields[1:])
        return fields

    def natural(self) -> tuple[str, bool] | None:
        """(field, descending) when the chosen column holds names, which sort naturally (cap-2 before cap-10)
        as in every other list; None for the columns SQL sorts by itself."""
        sort = (getattr(self, "cleaned_data", {}) or {}).get("sort") or ""
        field = NATURAL_SORTS.get(sort.lstrip("-"))
        return (field, sort.startswith("-")) if field else None

    def headers(self, query) -> list[dict]:
        """The sortable headers: their link (keeping the filters) and aria-sort; the default is START TIME,
        newest first."""
        sort = (getattr(self, "cleaned_data", {}) or {}).get("sort") or "-start"
        headers = []
        for key, label in SORT_LABELS:
            aria = "ascending" if sort == key else "descending" if sort == f"-{key}" else "none"
            target = f"-{key}" if aria == "ascending" or (aria == "none" and key == "start") else key
            link = query.copy()
            link.pop("page", None)
            link.pop("newer_than", None)
            link["sort"] = target
            headers.append({"label": label, "key": key, "aria_sort": aria, "url": f"?{link.urlencode()}"})
        return headers

    def newest_first(self) -> bool:
        """The default order (START TIME, newest first): the only one in which jobs started since the page was
        drawn belong at its top, so the only one whose first page polls for them."""
        return ((getattr(self, "cleaned_data", {}) or {}).get("sort") or "-start") == "-start"

    def page_number(self) -> int:
        return (getattr(self, "cleaned_data", {}) or {}).get("page") or 1


def _flip(field: str) -> str:
    return field[1:] if field.startswith("-") else f"-{field}"
