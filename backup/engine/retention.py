"""Grandfather-father-son retention as a pure function.

Each rule keeps the newest point of each calendar bucket (day, ISO week,
month, year) for the last N buckets counted from `now` (the current bucket is
number 0). A point is kept if any rule keeps it; the newest point overall is
always kept so an item never loses its last recovery point to a policy.
Points dated in the future (clock skew) fall into the current bucket.

The product's long-term rules also say which points they keep: a weekly rule
keeps the points taken on its chosen weekdays, a monthly or yearly rule those
taken on the days its DayPattern names (day-based: days 1-28 or the last day;
week-based: the First-Fourth or Last of some weekdays; yearly: in some
months). Such a rule's slot is the day: the newest scheduled point of each
matching day is kept while its week, month or year is among the rule's last
N. A rule without days (policies made before there were formats) keeps the
newest point of each bucket, as above.

Two more rules, when the caller says which points they apply to:
- "on-demand": an on-demand point is kept for the daily rule's N days
  whatever else was taken that day; on-demand points take no part in the
  calendar rules, so they never push a scheduled point out of its bucket.
  Without a daily rule (a weekly schedule) they are ordinary points.
- "intact": the newest point that is not damaged is always kept, so damaged
  newer points can never expire the last point that still restores.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

LAST_DAY = 0  # in days_of_month: the month's last day, whatever its length
LAST_WEEK = 5  # in weeks_of_month: the month's last occurrence of a weekday (its 4th or 5th)


@dataclass(frozen=True)
class DayPattern:
    """The days of a month a monthly or yearly rule keeps. Day-based: `days_of_month` (1-28, LAST_DAY);
    week-based: `weeks_of_month` (1-4, LAST_WEEK) of `days_of_week` (Monday = 0). `months` (1-12) limits a
    yearly rule to some months; empty means every month."""

    days_of_month: frozenset[int] = frozenset()
    weeks_of_month: frozenset[int] = frozenset()
    days_of_week: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()

    def matches(self, d: date) -> bool:
        if self.months and d.month not in self.months:
            return False
        length = calendar.monthrange(d.year, d.month)[1]
        if self.days_of_month:
            return d.day in self.days_of_month or (LAST_DAY in self.days_of_month and d.day == length)
        if d.weekday() not in self.days_of_week:
            return False
        week = (d.day - 1) // 7 + 1
        return week in self.weeks_of_month or (LAST_WEEK in self.weeks_of_month and d.day + 7 > length)


@dataclass(frozen=True)
class RetentionPolicy:
    daily_days: int
    weekly_weeks: int | None = None
    monthly_months: int | None = None
    yearly_years: int | None = None
    weekly_days: frozenset[int] = frozenset()  # empty: the newest point of each week
    monthly_on: DayPattern | None = None  # None: the newest point of each month
    yearly_on: DayPattern | None = None  # None: the newest point of each year


def _day(d: date) -> int:
    return d.toordinal()


def _week(d: date) -> int:
    return (d.toordinal() - d.weekday()) // 7  # Monday-based, same buckets as ISO weeks


def _month(d: date) -> int:
    return d.year * 12 + d.month - 1


def _year(d: date) -> int:
    return d.year


def _on_weekdays(days: frozenset[int]) -> Callable[[date], bool] | None:
    return (lambda d: d.weekday() in days) if days else None


def _local_date(t: datetime, now: datetime) -> date:
    if t.tzinfo is not None and now.tzinfo is not None:
        t = t.astimezone(now.tzinfo)  # buckets follow the caller's calendar
    return t.date()


def kept_by_rules(
    points: list[tuple[str, datetime]],
    policy: RetentionPolicy,
    now: datetime,
    *,
    on_demand: set[str] | frozenset[str] = frozenset(),
    damaged: set[str] | frozenset[str] = frozenset(),
) -> dict[str, list[str]]:
    """point_id -> names of the rules keeping it (exposed for explanations and tests)."""
    rules: list[tuple[str, int | None, Callable[[date], int], Callable[[date], bool] | None]] = [
        ("daily", policy.daily_days, _day, None),
        ("weekly", policy.weekly_weeks, _week, _on_weekdays(policy.weekly_days)),
        ("monthly", policy.monthly_months, _month, policy.monthly_on.matches if policy.monthly_on else None),
        ("yearly", policy.yearly_years, _year, policy.yearly_on.matches if policy.yearly_on else None),
    ]
    today = now.date()
    reasons: dict[str, list[str]] = {pid: [] for pid, _ in points}
    ordered = sorted(points, key=lambda p: (p[1], p[0]), reverse=True)  # newest first
    scheduled = ordered
    if policy.daily_days and policy.daily_days > 0:
        scheduled = [p for p in ordered if p[0] not in on_demand]
        current = _day(today)
        for pid, t in ordered:
            if pid in on_demand and current - min(_day(_local_date(t, now)), current) < policy.daily_days:
                reasons[pid].append("on-demand")
    for name, count, bucket_of, matches in rules:
        if not count or count <= 0:
            continue
        current = bucket_of(today)
        seen: set[int] = set()
        for pid, t in scheduled:
            day = min(_local_date(t, now), today)
            bucket = bucket_of(day)
            slot = bucket if matches is None else _day(day)
            if current - bucket >= count or slot in seen or (matches is not None and not matches(day)):
                continue
            seen.add(slot)  # first seen = newest point of that slot
            reasons[pid].append(name)
    if ordered:
        reasons[ordered[0][0]].append("newest")
    intact = next((pid for pid, _ in ordered if pid not in damaged), None)
    if intact is not None:
        reasons[intact].append("intact")
    return reasons


def select_points_to_prune(
    points: list[tuple[str, datetime]],
    policy: RetentionPolicy,
    now: datetime,
    *,
    on_demand: set[str] | frozenset[str] = frozenset(),
    damaged: set[str] | frozenset[str] = frozenset(),
) -> set[str]:
    """Return the ids of the points the policy does not keep."""
    reasons = kept_by_rules(points, policy, now, on_demand=on_demand, damaged=damaged)
    return {pid for pid, why in reasons.items() if not why}
