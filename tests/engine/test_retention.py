from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from backup.engine.retention import RetentionPolicy, kept_by_rules, select_points_to_prune

UTC = UTC
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)  # a Sunday


def _pts(*times: datetime) -> list[tuple[str, datetime]]:
    return [(f"p{i}", t) for i, t in enumerate(times)]


def test_daily_keeps_newest_of_each_day():
    pts = _pts(
        NOW - timedelta(hours=1),  # p0 today, newest
        NOW - timedelta(hours=3),  # p1 today, older -> prune
        NOW - timedelta(days=1),  # p2 yesterday
        NOW - timedelta(days=1, hours=2),  # p3 yesterday older -> prune
        NOW - timedelta(days=2),  # p4 outside 2 days -> prune
    )
    assert select_points_to_prune(pts, RetentionPolicy(daily_days=2), NOW) == {"p1", "p3", "p4"}


def test_gfs_example():
    days = [NOW - timedelta(days=d) for d in range(0, 400)]
    pts = [(t.date().isoformat(), t) for t in days]
    policy = RetentionPolicy(daily_days=7, weekly_weeks=4, monthly_months=3, yearly_years=2)
    kept = {p for p, _ in pts} - select_points_to_prune(pts, policy, NOW)
    expected = {(NOW - timedelta(days=d)).date().isoformat() for d in range(7)}  # 9..15 June
    expected |= {"2025-06-08", "2025-06-01", "2025-05-25"}  # Sundays ending ISO weeks 23, 22, 21
    expected |= {"2025-05-31", "2025-04-30"}  # month ends of May and April (June is today)
    expected |= {"2024-12-31"}  # year end of 2024
    assert kept == expected


def test_none_rules_disabled_and_newest_always_kept():
    pts = _pts(NOW - timedelta(days=100), NOW - timedelta(days=200))
    assert select_points_to_prune(pts, RetentionPolicy(daily_days=1), NOW) == {"p1"}
    assert select_points_to_prune([], RetentionPolicy(daily_days=1), NOW) == set()


def test_timezone_of_now_defines_the_day():
    paris = timezone(timedelta(hours=2))
    now = datetime(2025, 6, 15, 1, 0, tzinfo=paris)  # 23:00 UTC on the 14th
    pts = _pts(datetime(2025, 6, 14, 22, 30, tzinfo=UTC), datetime(2025, 6, 14, 21, 30, tzinfo=UTC))
    # In Paris p0 is on the 15th and p1 on the 14th: both newest of their day.
    assert select_points_to_prune(pts, RetentionPolicy(daily_days=2), now) == set()


times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2025, 6, 20), timezones=st.just(UTC))
policies = st.builds(
    RetentionPolicy,
    daily_days=st.integers(0, 40),
    weekly_weeks=st.none() | st.integers(0, 20),
    monthly_months=st.none() | st.integers(0, 30),
    yearly_years=st.none() | st.integers(0, 5),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(times, min_size=1, max_size=60), policies)
def test_properties(ts, policy):
    pts = _pts(*ts)
    pruned = select_points_to_prune(pts, policy, NOW)
    newest = max(pts, key=lambda p: (p[1], p[0]))[0]
    assert newest not in pruned
    assert pruned <= {p for p, _ in pts}
    reasons = kept_by_rules(pts, policy, NOW)
    for pid, t in pts:
        if pid in pruned:
            continue
        assert reasons[pid]
        for rule in reasons[pid]:
            if rule == "daily":
                # No newer point on the same day, and the day is within the window.
                assert not any(t2.date() == t.date() and (t2, p2) > (t, pid) for p2, t2 in pts)
                assert (NOW.date() - t.date()).days < policy.daily_days
    # Idempotent: pruning again with the survivors removes nothing more.
    survivors = [p for p in pts if p[0] not in pruned]
    assert select_points_to_prune(survivors, policy, NOW) == set()
    # Monotone: a larger policy never prunes more.
    bigger = RetentionPolicy(policy.daily_days + 1, policy.weekly_weeks, policy.monthly_months, policy.yearly_years)
    assert select_points_to_prune(pts, bigger, NOW) <= pruned


def test_on_demand_points_of_one_day_are_all_kept_for_the_daily_retention():
    pts = _pts(
        NOW - timedelta(hours=1),  # p0 on demand
        NOW - timedelta(hours=2),  # p1 on demand
        NOW - timedelta(hours=3),  # p2 scheduled
        NOW - timedelta(days=3),  # p3 on demand, outside 2 days
    )
    pruned = select_points_to_prune(pts, RetentionPolicy(daily_days=2), NOW, on_demand={"p0", "p1", "p3"})
    assert pruned == {"p3"}
    assert kept_by_rules(pts, RetentionPolicy(daily_days=2), NOW, on_demand={"p0", "p1"})["p2"] == ["daily"]


def test_the_newest_intact_point_is_kept_while_newer_points_are_damaged():
    pts = _pts(NOW - timedelta(hours=1), NOW - timedelta(hours=2), NOW - timedelta(hours=3))
    policy = RetentionPolicy(daily_days=1)
    assert select_points_to_prune(pts, policy, NOW) == {"p1", "p2"}
    assert select_points_to_prune(pts, policy, NOW, damaged={"p0", "p1"}) == {"p1"}


def test_without_a_daily_rule_on_demand_points_are_kept_by_the_weekly_rule_like_any_other():
    pts = _pts(NOW - timedelta(days=1), NOW - timedelta(days=8), NOW - timedelta(days=9))
    policy = RetentionPolicy(daily_days=0, weekly_weeks=4)
    assert select_points_to_prune(pts, policy, NOW, on_demand={"p0", "p1", "p2"}) == {"p2"}
