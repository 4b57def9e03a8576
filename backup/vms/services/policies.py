"""Backup policies: validation with the product's rules, CRUD, and each policy's Celery beat entry.

A policy's schedule lives twice: as the user gave it on the row, and as a django_celery_beat
PeriodicTask (a CrontabSchedule in the policy's time zone) that fires
``backup.vms.tasks.run_scheduled_backups`` with ``{"policy_id": id}``. Both change in one
transaction, so the scheduler never runs a policy that no longer exists.
"""

import calendar
import contextlib
import functools
import json
import re
from collections.abc import Callable
from datetime import time
from typing import Any
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import Signal, receiver
from django.utils import timezone as dj_timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from backup import engine
from backup.guard import services as guard
from backup.guard.models import GuardedOperation
from backup.vaults.models import Vault
from backup.vaults.services import vault_activated

from ..models import BackupPolicy
from . import reductions

SCHEDULED_BACKUP_TASK = "backup.vms.tasks.run_scheduled_backups"

# Sent inside the transaction that changed a policy (arguments: policy, user). Protection re-applies the
# policy to the machines it protects (backup/vms/services/protection.py): policies need not know about them.
policy_changed = Signal()
DEFAULT_POLICY_NAME = "DefaultPolicy"
NAME_PATTERN = re.compile(r"^[A-Za-z][-A-Za-z0-9]*[A-Za-z0-9]$")
NAME_CLASH = "A protection policy with the specified name already exists."
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
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

# The time zones the forms offer; the API accepts any IANA name.
COMMON_TIMEZONES = [
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Amsterdam",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Hong_Kong",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
]

# The days each long-term rule keeps (see BackupPolicy); cleaned by clean_rule_days.
RULE_DAY_FIELDS = [
    "weekly_retention_days",
    "monthly_retention_format", "monthly_retention_days_of_month", "monthly_retention_weeks_of_month",
    "monthly_retention_days_of_week",
    "yearly_retention_format", "yearly_retention_months", "yearly_retention_days_of_month",
    "yearly_retention_weeks_of_month", "yearly_retention_days_of_week",
]
POLICY_FIELDS = ["name", "frequency", "days_of_week", "time_of_day", "timezone", *RETENTION_RANGES, *RULE_DAY_FIELDS]


def floor_to_half_hour(value: time) -> time:
    return time(value.hour, 30 if value.minute >= 30 else 0)


def clean_policy(vault: Vault, data: dict, instance: BackupPolicy | None = None) -> dict:
    """Check a policy against the product's rules; return cleaned values or raise ValidationError
    with one message per field (the message states the allowed range)."""
    errors: dict[str, str] = {}
    cleaned: dict = {}
    name = (data.get("name") or "").strip()
    if not 3 <= len(name) <= 150:
        errors["name"] = "The policy name must be between 3 and 150 characters long."
    elif not NAME_PATTERN.match(name):
        errors["name"] = ("The policy name must start with a letter, end with a letter or digit, and contain only "
                          "letters, digits and hyphens.")
    else:
        clash = vault.policies.filter(name__iexact=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["name"] = NAME_CLASH
    cleaned["name"] = name

    frequency = data.get("frequency") or BackupPolicy.Frequency.DAILY
    if frequency not in BackupPolicy.Frequency.values:
        errors["frequency"] = "Choose Daily or Weekly."
    cleaned["frequency"] = frequency

    days = _clean_days(data.get("days_of_week") or [], errors)
    if frequency == BackupPolicy.Frequency.WEEKLY and not days and "days_of_week" not in errors:
        errors["days_of_week"] = "Choose at least one day of the week for a weekly backup."
    cleaned["days_of_week"] = days if frequency == BackupPolicy.Frequency.WEEKLY else []

    at = data.get("time_of_day")
    if isinstance(at, str):
        at = _parse_time(at)
    if not isinstance(at, time):
        errors["time_of_day"] = "Enter the time of day as HH:MM (it is rounded down to a 30-minute step)."
    else:
        cleaned["time_of_day"] = floor_to_half_hour(at)

    zone = data.get("timezone") or "UTC"
    if zone not in _zones():
        errors["timezone"] = f"'{zone}' is not a known time zone; use an IANA name such as UTC or Europe/London."
    cleaned["timezone"] = zone

    for field, (low, high, unit) in RETENTION_RANGES.items():
        cleaned[field] = _clean_retention(data.get(field), field, low, high, unit, errors)

    if frequency == BackupPolicy.Frequency.DAILY and cleaned["daily_retention_days"] is None:
        errors.setdefault("daily_retention_days",
                          "A daily backup schedule needs a daily retention rule (1 to 366 days).")
    if frequency == BackupPolicy.Frequency.WEEKLY:
        if cleaned["weekly_retention_weeks"] is None:
            errors.setdefault("weekly_retention_weeks",
                              "A weekly backup schedule needs a weekly retention rule (1 to 260 weeks).")
        if cleaned["daily_retention_days"] is not None:
            errors.setdefault("daily_retention_days",
                              "A weekly backup schedule cannot have a daily retention rule; clear this field.")
    cleaned.update(clean_rule_days(data, cleaned, errors))
    if errors:
        raise ValidationError(errors)
    return cleaned


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
                f"choose the same days ({_day_names(schedule_days)}).")
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
                    f"A weekly backup schedule cannot have a day-based {rule} retention rule: choose week-based.")
            out[f"{rule}_retention_days_of_month"] = _clean_days_of_month(data, rule, errors)
        elif fmt == BackupPolicy.RetentionFormat.WEEK_BASED:
            out[f"{rule}_retention_weeks_of_month"] = _clean_weeks(data, rule, errors)
            field = f"{rule}_retention_days_of_week"
            days = _clean_weekdays(data.get(field), field, errors)
            if not days and field not in errors:
                errors[field] = f"Choose the days of the week the {rule} retention rule keeps."
            elif weekly_schedule and not set(days) <= set(schedule_days) and field not in errors:
                errors[field] = (f"With a weekly backup schedule, the {rule} retention rule can keep only the "
                                 f"schedule's days ({_day_names(schedule_days)}).")
            out[field] = days
    return out


def _day_names(days: list[int]) -> str:
    return ", ".join(WEEKDAYS[d] for d in days)


def _clean_weekdays(values, field: str, errors: dict) -> list[int]:
    found: dict = {}
    days = _clean_days(values or [], found)
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
    return (was.days_of_month <= now.days_of_month and was.weeks_of_month <= now.weeks_of_month
            and was.days_of_week <= now.days_of_week and (not now.months or was.months <= now.months)
            and (bool(was.months) or not now.months))


@contextlib.contextmanager
def _name_clash_refused(vault: Vault, name: str, instance: BackupPolicy | None = None):
    """Another request may take the name between clean_policy's check and the write: the unique index refuses it
    (IntegrityError, its savepoint rolled back) and the user gets the same clash message as from the check."""
    try:
        yield
    except IntegrityError:
        clash = vault.policies.filter(name__iexact=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            raise ValidationError({"name": NAME_CLASH}) from None
        raise


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def _parse_time(text: str) -> time | None:
    try:
        hours, minutes = text.strip().split(":")[:2]
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        return None


def _clean_days(values, errors: dict) -> list[int]:
    days = []
    for value in values:
        try:
            day = int(value)
        except (TypeError, ValueError):
            day = -1
        if not 0 <= day <= 6:
            errors["days_of_week"] = "Days of the week are numbers from 0 (Monday) to 6 (Sunday)."
            return []
        days.append(day)
    return sorted(set(days))


def _clean_retention(value, field: str, low: int, high: int, unit: str, errors: dict) -> int | None:
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


def create_policy(vault: Vault, data: dict) -> BackupPolicy:
    if vault.status != Vault.Status.ACTIVE:
        raise ValidationError({"__all__": "Policies can be defined once the backup vault is active."})
    cleaned = clean_policy(vault, data)
    with _name_clash_refused(vault, cleaned["name"]), transaction.atomic():
        policy = BackupPolicy.objects.create(vault=vault, **cleaned)
        sync_schedule(policy)
    return policy


RETENTION_FIELDS = ("daily_retention_days", "weekly_retention_weeks", "monthly_retention_months",
                    "yearly_retention_years")


def keeps_less(policy: BackupPolicy, cleaned: dict) -> bool:
    """Would the change keep fewer points than the policy does (a shorter or a dropped rule, or the same
    durations on fewer or other days: reductions.retention_reductions, what immutability refuses too)?"""
    return bool(reductions.retention_reductions(policy, {**{f: getattr(policy, f) for f in RETENTION_FIELDS},
                                                         **cleaned}))


def require_approval_to_keep_less(policy: BackupPolicy, cleaned: dict, user, approval=None) -> None:
    """A change that keeps less may need a resource guard's approval, for exactly these retention values."""
    if not keeps_less(policy, cleaned):
        return
    values = ",".join(f"{field.split('_')[0]}={cleaned.get(field, getattr(policy, field)) or 0}"
                      for field in RETENTION_FIELDS)
    guard.require_approval(user, policy.vault.subscription_id, GuardedOperation.REDUCE_RETENTION,
                           f"policy:{policy.pk}:{values}", target_name=f"{policy.name} ({values})",
                           vault_id=policy.vault_id, request_id=approval)


def update_policy(policy: BackupPolicy, data: dict, user=None, approval: int | str | None = None) -> BackupPolicy:
    """Change a policy and its schedule; as in the product, each machine using it then gets a Configure
    Protection job that re-applies it (see policy_changed)."""

    cleaned = clean_policy(policy.vault, data, instance=policy)
    reductions.refuse_policy_change(policy, cleaned)  # an immutable vault's policies never keep less
    require_approval_to_keep_less(policy, cleaned, user, approval)
    with _name_clash_refused(policy.vault, cleaned["name"], instance=policy), transaction.atomic():
        for field, value in cleaned.items():
            setattr(policy, field, value)
        policy.updated_at = dj_timezone.now()
        policy.save()
        sync_schedule(policy)
        policy_changed.send(sender=BackupPolicy, policy=policy, user=user)
    return policy


def policy_in_use_message(policy: BackupPolicy) -> str | None:
    names = [f"{vm} ({cloud_service})" for vm, cloud_service in
             policy.protected_items.exclude(status="stopped").values_list("vm_name", "cloud_service_name")[:10]]
    if not names:
        return None
    return (f"The policy '{policy.name}' cannot be deleted because it protects: {', '.join(names)}. "
            "Protect these virtual machines with another policy, or stop their protection, first.")


def delete_policy(policy: BackupPolicy) -> None:
    """Delete an unused policy and its schedule; refuse (ValidationError) while VMs use it."""
    message = policy_in_use_message(policy)
    if message:
        raise ValidationError({"__all__": message})
    with transaction.atomic():
        task = policy.periodic_task
        # Stopped items keep their recovery points but no longer need the policy.
        policy.protected_items.update(policy=None)
        policy.delete()
        if task is not None:
            task.delete()


@receiver(vault_activated)
def _give_default_policy(sender, vault: Vault, **kwargs) -> None:
    ensure_default_policy(vault)


def ensure_default_policy(vault: Vault) -> BackupPolicy | None:
    """Give an Active vault its DefaultPolicy (daily 22:00 UTC, kept 30 days), once: when its creation
    ends (vault_activated)."""
    if vault.status != Vault.Status.ACTIVE or vault.policies.exists():
        return None
    with transaction.atomic():
        policy, created = BackupPolicy.objects.get_or_create(
            vault=vault, name=DEFAULT_POLICY_NAME,
            defaults={"frequency": BackupPolicy.Frequency.DAILY, "time_of_day": time(22, 0), "timezone": "UTC",
                      "daily_retention_days": 30},
        )
        if created:
            sync_schedule(policy)
    return policy


def crontab_fields(policy: BackupPolicy) -> dict:
    """Crontab of a policy. Celery counts weekdays from Sunday = 0; the policy from Monday = 0."""
    if policy.frequency == BackupPolicy.Frequency.WEEKLY and policy.days_of_week:
        day_of_week = ",".join(str((day + 1) % 7) for day in sorted(policy.days_of_week))
    else:
        day_of_week = "*"
    return {"minute": str(policy.time_of_day.minute), "hour": str(policy.time_of_day.hour),
            "day_of_week": day_of_week, "day_of_month": "*", "month_of_year": "*", "timezone": policy.timezone}


def sync_schedule(policy: BackupPolicy) -> PeriodicTask:
    """Create or update the policy's PeriodicTask; call inside the policy's transaction."""
    crontab, _ = CrontabSchedule.objects.get_or_create(**crontab_fields(policy))
    fields = {"task": SCHEDULED_BACKUP_TASK, "crontab": crontab, "kwargs": json.dumps({"policy_id": policy.pk}),
              "enabled": True, "description": f"Backup policy '{policy.name}' of vault {policy.vault_id}"}
    task = policy.periodic_task
    if task is None:
        task = PeriodicTask.objects.create(name=f"backup-policy-{policy.pk}", **fields)
        BackupPolicy.objects.filter(pk=policy.pk).update(periodic_task=task)
        policy.periodic_task = task
    else:
        for field, value in fields.items():
            setattr(task, field, value)
        task.save()
    return task


def describe_schedule(policy: BackupPolicy) -> str:
    at = policy.time_of_day.strftime("%H:%M")
    if policy.frequency == BackupPolicy.Frequency.WEEKLY:
        days = ", ".join(WEEKDAYS[d] for d in policy.days_of_week)
        return f"Weekly on {days} at {at} ({policy.timezone})"
    return f"Daily at {at} ({policy.timezone})"


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


def described(queryset) -> list[BackupPolicy]:
    """Policies with `schedule_text` and `retention_text` set, for read-only display."""
    rows = list(queryset)
    for policy in rows:
        policy.schedule_text = describe_schedule(policy)
        policy.retention_text = describe_retention(policy)
    return rows
