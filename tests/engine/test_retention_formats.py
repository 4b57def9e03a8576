"""The long-term rules' formats: weekly on weekdays, monthly/yearly day-based or week-based."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from backup.engine.retention import LAST_DAY, LAST_WEEK, DayPattern, RetentionPolicy, kept_by_rules

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)  # a Sunday
SUNDAY = 6


def _daily_points(days: int, now: datetime = NOW) -> list[tuple[str, datetime]]:
    return [((now - timedelta(days=d)).date().isoformat(), now - timedelta(days=d)) for d in range(days)]


def _kept(points, policy, now=NOW, **kw) -> set[str]:
    return {pid for pid, why in kept_by_rules(points, policy, now, **kw).items() if why}


def test_day_pattern_day_based_with_last():
    pattern = DayPattern(days_of_month=frozenset({1, LAST_DAY}))
    assert pattern.matches(date(2024, 2, 29)) and pattern.matches(date(2025, 2, 28))
    assert pattern.matches(date(2025, 3, 1)) and not pattern.matches(date(2025, 3, 30))


def test_day_pattern_week_based_first_and_last():
    first_sunday = DayPattern(weeks_of_month=frozenset({1}), days_of_week=frozenset({SUNDAY}))
    assert first_sunday.matches(date(2025, 6, 1)) and not first_sunday.matches(date(2025, 6, 8))
    last_sunday = DayPattern(weeks_of_month=frozenset({LAST_WEEK}), days_of_week=frozenset({SUNDAY}))
    assert last_sunday.matches(date(2025, 6, 29)) and not last_sunday.matches(date(2025, 6, 22))
    assert last_sunday.matches(date(2025, 3, 30))  # a fifth Sunday is the last one
    fourth = DayPattern(weeks_of_month=frozenset({4}), days_of_week=frozenset({SUNDAY}))
    assert fourth.matches(date(2025, 3, 23)) and not fourth.matches(date(2025, 3, 30))


def test_months_limit_a_yearly_pattern():
    january = DayPattern(weeks_of_month=frozenset({1}), days_of_week=frozenset({SUNDAY}), months=frozenset({1}))
    assert january.matches(date(2025, 1, 5)) and not january.matches(date(2025, 2, 2))


def test_portal_example_keeps_exactly_its_points():
    """Daily 30 days, weekly Sunday 104 weeks, monthly last Sunday 120 months, yearly first Sunday of
    January 99 years, over three years of daily points."""
    policy = RetentionPolicy(
        daily_days=30, weekly_weeks=104, monthly_months=120, yearly_years=99,
        weekly_days=frozenset({SUNDAY}),
        monthly_on=DayPattern(weeks_of_month=frozenset({LAST_WEEK}), days_of_week=frozenset({SUNDAY})),
        yearly_on=DayPattern(weeks_of_month=frozenset({1}), days_of_week=frozenset({SUNDAY}), months=frozenset({1})),
    )
    points = _daily_points(3 * 366)
    kept = _kept(points, policy)
    for pid, t in points:
        d = t.date()
        age_days = (NOW.date() - d).days
        weeks = (NOW.date() - timedelta(days=NOW.weekday())).toordinal() // 7 - (
            d - timedelta(days=d.weekday())).toordinal() // 7
        sunday = d.weekday() == SUNDAY
        last_sunday = sunday and d.day + 7 > calendar.monthrange(d.year, d.month)[1]
        first_sunday_of_january = sunday and d.month == 1 and d.day <= 7
        expected = age_days < 30 or (sunday and weeks < 104) or last_sunday or first_sunday_of_january
        assert (pid in kept) == expected, (pid, kept_by_rules(points, policy, NOW)[pid])


def test_day_based_monthly_keeps_the_point_of_that_day_not_the_month_end():
    policy = RetentionPolicy(daily_days=1, monthly_months=3, monthly_on=DayPattern(days_of_month=frozenset({15})))
    kept = _kept(_daily_points(120), policy)
    assert kept == {"2025-06-15", "2025-05-15", "2025-04-15"}


def test_weekly_on_two_days_keeps_both_each_week():
    policy = RetentionPolicy(daily_days=0, weekly_weeks=2, weekly_days=frozenset({2, SUNDAY}))
    kept = _kept(_daily_points(30), policy)
    assert kept == {"2025-06-15", "2025-06-11", "2025-06-08", "2025-06-04"}  # this week and last week


def test_no_point_on_a_slot_day_keeps_nothing_for_it():
    """A Sunday whose backup failed leaves its slot empty: Saturday's point does not stand in."""
    points = [p for p in _daily_points(15) if p[0] != "2025-06-08"]
    policy = RetentionPolicy(daily_days=1, weekly_weeks=4, weekly_days=frozenset({SUNDAY}))
    assert _kept(points, policy) == {"2025-06-15", "2025-06-01"}


def test_rule_days_follow_the_callers_calendar():
    tokyo = timezone(timedelta(hours=9))
    now = datetime(2025, 6, 15, 12, 0, tzinfo=tokyo)
    taken = datetime(2025, 6, 7, 21, 0, tzinfo=UTC)  # Sunday 06:00 in Tokyo, Saturday in UTC
    policy = RetentionPolicy(daily_days=0, weekly_weeks=4, weekly_days=frozenset({SUNDAY}))
    points = [("sunday", taken), ("newest", now)]
    assert kept_by_rules(points, policy, now)["sunday"] == ["weekly"]


# --- properties -------------------------------------------------------------------------------------------

small_sets = st.frozensets
weekdays = small_sets(st.integers(0, 6), min_size=1, max_size=3)
day_based = st.builds(DayPattern, days_of_month=small_sets(st.sampled_from([LAST_DAY, *range(1, 29)]), min_size=1,
                                                           max_size=3))
week_based = st.builds(DayPattern, weeks_of_month=small_sets(st.sampled_from([1, 2, 3, 4, LAST_WEEK]), min_size=1,
                                                             max_size=2), days_of_week=weekdays)
patterns = st.none() | day_based | week_based
yearly_patterns = st.none() | st.builds(
    lambda p, months: DayPattern(p.days_of_month, p.weeks_of_month, p.days_of_week, months),
    day_based | week_based, small_sets(st.integers(1, 12), min_size=1, max_size=3))
policies = st.builds(
    RetentionPolicy,
    daily_days=st.integers(0, 20),
    weekly_weeks=st.none() | st.integers(1, 10),
    monthly_months=st.none() | st.integers(1, 12),
    yearly_years=st.none() | st.integers(1, 4),
    weekly_days=st.just(frozenset()) | weekdays,
    monthly_on=patterns,
    yearly_on=yearly_patterns,
)
moments = st.datetimes(min_value=datetime(2021, 1, 1), max_value=datetime(2025, 6, 20), timezones=st.just(UTC))
point_lists = st.lists(moments, max_size=60).map(lambda ts: [(f"p{i}", t) for i, t in enumerate(ts)])


def _rule(policy: RetentionPolicy, name: str):
    """(count, bucket of a day, matches or None) of one rule, restated independently of the engine."""
    def week(d: date) -> int:
        return (d.toordinal() - d.weekday()) // 7
    if name == "daily":
        return policy.daily_days, date.toordinal, None
    if name == "weekly":
        return policy.weekly_weeks, week, ((lambda d: d.weekday() in policy.weekly_days)
                                           if policy.weekly_days else None)
    if name == "monthly":
        return policy.monthly_months, (lambda d: d.year * 12 + d.month), (
            policy.monthly_on.matches if policy.monthly_on else None)
    return policy.yearly_years, (lambda d: d.year), (policy.yearly_on.matches if policy.yearly_on else None)


RULES = ("daily", "weekly", "monthly", "yearly")


def _slots(points, policy, name):
    """slot -> newest point of that slot, among the points the rule applies to and keeps for its duration."""
    count, bucket_of, matches = _rule(policy, name)
    today = NOW.date()
    slots: dict[int, tuple[str, datetime]] = {}
    if not count:
        return slots
    for pid, t in points:
        d = min(t.date(), today)
        if bucket_of(today) - bucket_of(d) >= count or (matches is not None and not matches(d)):
            continue
        slot = bucket_of(d) if matches is None else d.toordinal()
        if slot not in slots or (t, pid) > (slots[slot][1], slots[slot][0]):
            slots[slot] = (pid, t)
    return slots


@settings(max_examples=300, deadline=None)
@given(point_lists, policies)
def test_every_kept_point_is_justified_and_every_slot_is_kept_once(points, policy):
    reasons = kept_by_rules(points, policy, NOW)
    if points:
        newest = max(points, key=lambda p: (p[1], p[0]))[0]
        assert "newest" in reasons[newest]
    for name in RULES:
        slots = _slots(points, policy, name)
        keepers = {pid for pid, why in reasons.items() if name in why}
        # A point matching a rule's slot is kept for that rule's duration, and only that slot's newest.
        assert keepers == {pid for pid, _ in slots.values()}
        assert len(keepers) == len(slots)  # no slot keeps two points
    for why in reasons.values():
        assert set(why) <= {*RULES, "newest", "intact"}


@settings(max_examples=200, deadline=None)
@given(point_lists, policies, st.data())
def test_on_demand_points_take_no_calendar_slot_while_a_daily_rule_keeps_them(points, policy, data):
    on_demand = frozenset(data.draw(st.sets(st.sampled_from([p for p, _ in points])) if points else st.just(set())))
    reasons = kept_by_rules(points, policy, NOW, on_demand=on_demand)
    if policy.daily_days:
        for pid in on_demand:
            assert set(reasons[pid]) <= {"on-demand", "newest", "intact"}
        scheduled = [p for p in points if p[0] not in on_demand]
        for name in RULES:
            assert {pid for pid, why in reasons.items() if name in why} == {
                pid for pid, _ in _slots(scheduled, policy, name).values()}
