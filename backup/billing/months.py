"""Calendar months, the unit of a bill."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class BadMonth(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH_RE.match(text or "")
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise BadMonth("Enter a month as YYYY-MM, for example 2015-06.")
        if not 2000 <= int(match.group(1)) <= 2999:
            raise BadMonth("Enter a month between 2000-01 and 2999-12.")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    @property
    def label(self) -> str:
        return self.first_day.strftime("%B %Y")

    @property
    def short_label(self) -> str:
        return self.first_day.strftime("%b %y")

    def previous(self) -> Month:
        return Month.of(self.first_day - timedelta(days=1))

    def following(self) -> Month:
        return Month.of(self.last_day + timedelta(days=1))

    def day_list(self) -> list[date]:
        return [date(self.year, self.month, d) for d in range(1, self.days + 1)]
