"""A policy's retention rules: how long it keeps daily, weekly, monthly and yearly points, and on which days.

Cleans them from user input, turns them into the engine's RetentionPolicy, tells whether new rules keep less
than old ones (what immutability and resource guards act on), and says them in words.
"""

import calendar
import functools
from collections.abc import Callable
from typing import Any

from backup import engine

from ..models import BackupPolicy
from .policy_schedule import WEEKDAYS, clean_days_of_week

WEEKS_OF_MONTH = ["First", "Second", "Third", "Fourth", "Last"]
MONTHS = list(calendar.month_name)[1:]
LAST = "Last"  # days of the month are stored as numbers, the last day as engine.LAST_DAY

# (field, lowest, highest, unit) of each retention rule, as the product allowed them.
RETENTION_RANGES = {
    "daily_retention_days": (1, 366, "days"),
    "weekly_retention_weeks": (1, 260, "weeks"),
    "monthly_retention_months": (1, 120, "months"),
    "yearly_retention_years": (1, 99, "years"),
}
RULE_LABELS = {
    "daily_retention_days": "daily",
    "weekly_retention_weeks": "weekly",
    "monthly_retention_months": "monthly",
    "yearly_retention_years": "yearly",
}

# The days each long-term rule keeps (see BackupPolicy); cleaned by clean_rule_days.
RULE_DAY_FIELDS = [
    "weekly_retention_days",
    "monthly_retention_format",
    "monthly_retention_days_of_month",
    "monthly_retention_weeks_of_month",
    "monthly_retention_days_of_week",
    "yearly_retention_format",
    "yearly_retention_months",
    "yearly_retention_days_of_month",
    "yearly_retention_weeks_of_month",
    "yearly_retention_days_of_week",
]


def clean_retention(data: dict, schedule: dict, errors: dict) -> dict:
    """The retention fields of a policy, cleaned against its cleaned `schedule` (a daily schedule needs a daily
    rule, a weekly one a weekly rule and no daily rule); a field's problem goes to `errors` under its name."""
    out: dict = {}
    for field, (low, high, unit) in RETENTION_RANGES.items():
        out[field] = _clean_count(data.get(field), field, low, high, unit, errors)

    frequency = schedule["frequency"]
    if frequency == BackupPolicy.Frequency.DAILY and out["daily_retention_days"] is None:
        errors.setdefault(
            "daily_retention_days", "A daily backup schedule needs a daily retention rule (1 to 366 days)."
        )
    if frequency == BackupPolicy.Frequency.WEEKLY:
        if out["weekly_retention_weeks"] is None:
            errors.setdefault(
                "weekly_retention_weeks", "A weekly backup schedule needs a weekly retention rule (1 to 260 weeks)."
            )
        if out["daily_retention_days"] is not None:
            errors.setdefault(
                "daily_retention_days", "A weekly backup schedule cannot have a daily retention rule; clear this field."
            )
    out.update(clean_rule_days(data, {**schedule, **out}, errors))
    return out


def _clean_count(value, field: str, low: int, high: int, unit: str, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high or str(value).strip() != str(number):
        errors[field] = f"Keep {RULE_LABELS[field]} backup points for {low} to {high} {unit}."
        return None
    return number


def clean_rule_days(data: dict, cleaned: dict, errors: dict) -> dict:
    """The days the long-term rules keep, with the rules between them and a weekly schedule: its weekly rule
    keeps the schedule's days, the monthly and yearly rules are week-based on some of those days."""
    out: dict = {field: [] for field in RULE_DAY_FIELDS}
    out["monthly_retention_format"] = out["yearly_retention_format"] = ""
    weekly_schedule = cleaned["frequency"] == BackupPolicy.Frequency.WEEKLY
    schedule_days = cleaned["days_of_week"]
    if cleaned.get("weekly_retention_weeks") is not None:
        days = _clean_weekdays(data.get("weekly_retention_days"), "weekly_retention_days", errors)
        if weekly_schedule and not days:
            days = schedule_days  # the only days a weekly rule of a weekly schedule may keep
        elif weekly_schedule and schedule_days and days != schedule_days and "weekly_retention_days" not in errors:
            errors["weekly_retention_days"] = (
                "With a weekly backup schedule, the weekly retention rule keeps the backups of the schedule's days: "
                f"choose the same days ({_day_names(schedule_days)})."
            )
        out["weekly_retention_days"] = days
    for rule in ("monthly", "yearly"):
        if cleaned.get(f"{rule}_retention_{'months' if rule == 'monthly' else 'years'}") is None:
            continue
        fmt = data.get(f"{rule}_retention_format") or ""
        if fmt not in ("", *BackupPolicy.RetentionFormat.values):
            errors[f"{rule}_retention_format"] = f"Choose day-based or week-based for the {rule} retention rule."
            continue
        out[f"{rule}_retention_format"] = fmt
        if rule == "yearly" and fmt:  # without a format, the newest point of each year (older policies)
            out["yearly_retention_months"] = _clean_months(data.get("yearly_retention_months"), errors)
        if fmt == BackupPolicy.RetentionFormat.DAY_BASED:
            if weekly_schedule:
                errors[f"{rule}_retention_format"] = (
                    f"A weekly backup schedule cannot have a day-based {rule} retention rule: choose week-based."
                )
            out[f"{rule}_retention_days_of_month"] = _clean_days_of_month(data, rule, errors)
        elif fmt == BackupPolicy.RetentionFormat.WEEK_BASED:
            out[f"{rule}_retention_weeks_of_month"] = _clean_weeks(data, rule, errors)
            field = f"{rule}_retention_days_of_week"
            days = _clean_weekdays(data.get(field), field, errors)
            if not days and field not in errors:
                errors[field] = f"Choose the days of the week the {rule} retention rule keeps."
            elif weekly_schedule and not set(days) <= set(schedule_days) and field not in errors:
                errors[field] = (
                    f"With a weekly backup schedule, the {rule} retention rule can keep only the "
                    f"schedule's days ({_day_names(schedule_days)})."
                )
            out[field] = days
    return out


def _day_names(days: list[int]) -> str:
    return ", ".join(WEEKDAYS[d] for d in days)


def _clean_weekdays(values, field: str, errors: dict) -> list[int]:
    found: dict = {}
    days = clean_days_of_week(values or [], found)
    if found:
        errors[field] = found["days_of_week"]
    return days


def _clean_months(values, errors: dict) -> list[int]:
    months = set()
    for value in values or []:
        text = str(value).strip()
        number = MONTHS.index(text.capitalize()) + 1 if text.capitalize() in MONTHS else None
        if number is None and text.isdigit() and 1 <= int(text) <= 12:
            number = int(text)
        if number is None:
            errors["yearly_retention_months"] = "Months of the year are 1 (January) to 12 (December)."
            return []
        months.add(number)
    if not months:
        errors["yearly_retention_months"] = "Choose the months of the year the yearly retention rule keeps."
    return sorted(months)


def _clean_days_of_month(data: dict, rule: str, errors: dict) -> list[int]:
    field = f"{rule}_retention_days_of_month"
    days = set()
    for value in data.get(field) or []:
        text = str(value).strip()
        if text.lower() == LAST.lower():
            days.add(engine.LAST_DAY)
        elif text.isdigit() and 1 <= int(text) <= 28:
            days.add(int(text))
        else:
            errors[field] = "Days of the month are 1 to 28, or Last."
            return []
    if not days:
        errors[field] = f"Choose the days of the month the {rule} retention rule keeps (1 to 28, or Last)."
    return sorted(days, key=lambda d: d or 99)


def _clean_weeks(data: dict, rule: str, errors: dict) -> list[str]:
    field = f"{rule}_retention_weeks_of_month"
    weeks = set()
    for value in data.get(field) or []:
        name = str(value).strip().capitalize()
        if name not in WEEKS_OF_MONTH:
            errors[field] = "Weeks of the month are First, Second, Third, Fourth or Last."
            return []
        weeks.add(name)
    if not weeks:
        errors[field] = f"Choose the weeks of the month the {rule} retention rule keeps (First to Fourth, or Last)."
    return sorted(weeks, key=WEEKS_OF_MONTH.index)


def retention_rules(policy) -> engine.RetentionPolicy:
    """The engine's rules of a policy (a BackupPolicy, or a dict of its cleaned fields)."""
    get: Callable[[str], Any] = policy.get if isinstance(policy, dict) else functools.partial(getattr, policy)

    def pattern(rule: str) -> engine.DayPattern | None:
        fmt = get(f"{rule}_retention_format")
        months = frozenset(get("yearly_retention_months") or []) if rule == "yearly" else frozenset()
        if fmt == BackupPolicy.RetentionFormat.DAY_BASED:
            return engine.DayPattern(days_of_month=frozenset(get(f"{rule}_retention_days_of_month")), months=months)
        if fmt == BackupPolicy.RetentionFormat.WEEK_BASED:
            weeks = frozenset(WEEKS_OF_MONTH.index(w) + 1 for w in get(f"{rule}_retention_weeks_of_month"))
            weekdays = frozenset(get(f"{rule}_retention_days_of_week"))
            return engine.DayPattern(weeks_of_month=weeks, days_of_week=weekdays, months=months)
        return None

    return engine.RetentionPolicy(
        daily_days=get("daily_retention_days") or 0,
        weekly_weeks=get("weekly_retention_weeks"),
        monthly_months=get("monthly_retention_months"),
        yearly_years=get("yearly_retention_years"),
        weekly_days=frozenset(get("weekly_retention_days") or []),
        monthly_on=pattern("monthly"),
        yearly_on=pattern("yearly"),
    )


def retention_reduced(old, new) -> bool:
    """Whether the `new` rules (a BackupPolicy or cleaned fields) keep less than the `old`: some point the old
    rules keep could be expired by the new ones (a rule gone or shorter, fewer days, another format)."""
    before, after = retention_rules(old), retention_rules(new)
    for count in ("daily_days", "weekly_weeks", "monthly_months", "yearly_years"):
        if (getattr(before, count) or 0) > (getattr(after, count) or 0):
            return True
    if before.weekly_weeks and _fewer_weekly_days(old, before.weekly_days, after.weekly_days):
        return True
    for rule, kept_for in (("monthly_on", before.monthly_months), ("yearly_on", before.yearly_years)):
        was, now = getattr(before, rule), getattr(after, rule)
        if kept_for and was != now and not _pattern_widens(was, now):
            return True
    return False


def _fewer_weekly_days(old, before: frozenset[int], after: frozenset[int]) -> bool:
    if before:
        return not after or not before <= after  # no days: only the newest point of each week
    # A rule without days kept the newest point of each week: with a weekly schedule that point is always on one
    # of the schedule's days, so a rule keeping all of them keeps it too (what clean_policy gives older policies).
    get = old.get if isinstance(old, dict) else functools.partial(getattr, old)
    weekly_schedule = get("frequency") == BackupPolicy.Frequency.WEEKLY
    return bool(after) and not (weekly_schedule and set(get("days_of_week") or []) <= after)


def _pattern_widens(was: engine.DayPattern | None, now: engine.DayPattern | None) -> bool:
    if was is None or now is None or bool(was.days_of_month) != bool(now.days_of_month):
        return False
    return (
        was.days_of_month <= now.days_of_month
        and was.weeks_of_month <= now.weeks_of_month
        and was.days_of_week <= now.days_of_week
        and (not now.months or was.months <= now.months)
        and (bool(was.months) or not now.months)
    )


def describe_retention(policy: BackupPolicy) -> list[str]:
    """Each rule in words, as the portal lists them: "Monthly: 120 months on the last Sunday"."""
    parts = []
    for field, (_, _, unit) in RETENTION_RANGES.items():
        value = getattr(policy, field)
        if value is None:
            continue
        rule = RULE_LABELS[field]
        days = _describe_days(policy, rule)
        parts.append(f"{rule.capitalize()}: {value} {unit[:-1] if value == 1 else unit}{' on ' + days if days else ''}")
    return parts


def _describe_days(policy: BackupPolicy, rule: str) -> str:
    if rule == "daily":
        return ""
    if rule == "weekly":
        return _and_list([WEEKDAYS[d] for d in policy.weekly_retention_days])
    fmt = getattr(policy, f"{rule}_retention_format")
    if fmt == BackupPolicy.RetentionFormat.DAY_BASED:
        chosen = getattr(policy, f"{rule}_retention_days_of_month")
        numbers = [str(d) for d in chosen if d != engine.LAST_DAY]
        days = ["day " + _and_list(numbers)] if numbers else []
        if engine.LAST_DAY in chosen:
            days.append("the last day")
        text = _and_list(days)
    elif fmt == BackupPolicy.RetentionFormat.WEEK_BASED:
        weeks = _and_list([w.lower() for w in getattr(policy, f"{rule}_retention_weeks_of_month")])
        text = f"the {weeks} {_and_list([WEEKDAYS[d] for d in getattr(policy, f'{rule}_retention_days_of_week')])}"
    else:
        return ""
    if rule == "yearly":
        text += " of " + _and_list([MONTHS[m - 1] for m in policy.yearly_retention_months])
    return text


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""
