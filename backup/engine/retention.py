"""Grandfather-father-son retention as a pure function.

Each rule keeps the newest point of each calendar bucket (day, ISO week,
month, year) for the last N buckets counted from `now` (the current bucket is
number 0). A point is kept if any rule keeps it; the newest point overall is
always kept so an item never loses its last recovery point to a policy.
Points dated in the future (clock skew) fall into the current bucket.

Two more rules, when the caller says which points they apply to:
- "on-demand": an on-demand point is kept for the daily rule's N days
  whatever else was taken that day; on-demand points take no part in the
  calendar rules, so they never push a scheduled point out of its bucket.
  Without a daily rule (a weekly schedule) they are ordinary points.
- "intact": the newest point that is not damaged is always kept, so damaged
  newer points can never expire the last point that still restores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class RetentionPolicy:
    daily_days: int
    weekly_weeks: int | None = None
    monthly_months: int | None = None
    yearly_years: int | None = None


def _day(d: date) -> int:
    return d.toordinal()


def _week(d: date) -> int:
    return (d.toordinal() - d.weekday()) // 7  # Monday-based, same buckets as ISO weeks


def _month(d: date) -> int:
    return d.year * 12 + d.month - 1


def _year(d: date) -> int:
    return d.year


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
    rules: list[tuple[str, int | None, Callable[[date], int]]] = [
        ("daily", policy.daily_days, _day),
        ("weekly", policy.weekly_weeks, _week),
        ("monthly", policy.monthly_months, _month),
        ("yearly", policy.yearly_years, _year),
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
    for name, count, bucket_of in rules:
        if not count or count <= 0:
            continue
        current = bucket_of(today)
        seen: set[int] = set()
        for pid, t in scheduled:
            bucket = min(bucket_of(_local_date(t, now)), current)
            if current - bucket >= count or bucket in seen:
                continue
            seen.add(bucket)  # first seen = newest point of that bucket
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
