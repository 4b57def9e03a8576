"""A policy's backup schedule: when it runs (daily or on some weekdays, at a half hour, in a time zone), as the
user gives it and as its Celery beat entry.

The schedule lives twice: on the policy row, and as a django_celery_beat PeriodicTask (a CrontabSchedule in the
policy's time zone) that fires ``backup.vms.tasks.run_scheduled_backups`` with ``{"policy_id": id}``.
"""

import functools
import json
from datetime import time
from zoneinfo import available_timezones

from django_celery_beat.models import CrontabSchedule, PeriodicTask

from ..models import BackupPolicy

SCHEDULED_BACKUP_TASK = "backup.vms.tasks.run_scheduled_backups"
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

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


def floor_to_half_hour(value: time) -> time:
    return time(value.hour, 30 if value.minute >= 30 else 0)


def clean_schedule(data: dict, errors: dict) -> dict:
    """The schedule fields of a policy (frequency, days_of_week, time_of_day, timezone), cleaned; a field's
    problem goes to `errors` under its name."""
    cleaned: dict = {}
    frequency = data.get("frequency") or BackupPolicy.Frequency.DAILY
    if frequency not in BackupPolicy.Frequency.values:
        errors["frequency"] = "Choose Daily or Weekly."
    cleaned["frequency"] = frequency

    days = clean_days_of_week(data.get("days_of_week") or [], errors)
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
    return cleaned


def clean_days_of_week(values, errors: dict) -> list[int]:
    """Weekday numbers (0 = Monday), sorted and distinct; a bad one empties the list and is reported under
    errors["days_of_week"]."""
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


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def _parse_time(text: str) -> time | None:
    try:
        hours, minutes = text.strip().split(":")[:2]
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        return None


def crontab_fields(policy: BackupPolicy) -> dict:
    """Crontab of a policy. Celery counts weekdays from Sunday = 0; the policy from Monday = 0."""
    if policy.frequency == BackupPolicy.Frequency.WEEKLY and policy.days_of_week:
        day_of_week = ",".join(str((day + 1) % 7) for day in sorted(policy.days_of_week))
    else:
        day_of_week = "*"
    return {
        "minute": str(policy.time_of_day.minute),
        "hour": str(policy.time_of_day.hour),
        "day_of_week": day_of_week,
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": policy.timezone,
    }


def sync_schedule(policy: BackupPolicy) -> PeriodicTask:
    """Create or update the policy's PeriodicTask; call inside the policy's transaction."""
    crontab, _ = CrontabSchedule.objects.get_or_create(**crontab_fields(policy))
    fields = {
        "task": SCHEDULED_BACKUP_TASK,
        "crontab": crontab,
        "kwargs": json.dumps({"policy_id": policy.pk}),
        "enabled": True,
        "description": f"Backup policy '{policy.name}' of vault {policy.vault_id}",
    }
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
