"""`manage.py backup policy ...`: a vault's backup policies with the whole of their retention rules.

    manage.py backup policy create --vault Payroll --name Weekend --weekly Sunday --time 06:00 \\
        --weekly-weeks 104 --weekly-on Sunday --monthly-months 120 --monthly-weeks Last --monthly-weekdays Sunday \\
        --yearly-years 99 --yearly-months January --yearly-weeks First --yearly-weekdays Sunday

Day-based monthly and yearly rules take --monthly-days / --yearly-days (1-28 or Last); week-based ones
--*-weeks (First-Fourth, Last) with --*-weekdays. `update` changes only the options given; a count of
`none` removes that rule. The same services as the portal check every rule and say what is wrong.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from backup.vms.api.policies import policy_out
from backup.vms.forms import initial_for
from backup.vms.models import BackupPolicy
from backup.vms.services import policies

from . import resolve
from .errors import invalid
from .output import fields, table

POLICY_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("schedule", "schedule"),
    ("retention", "retention_text"),
    ("items", "protected_items"),
]
COUNTS = {
    "daily_days": "daily_retention_days",
    "weekly_weeks": "weekly_retention_weeks",
    "monthly_months": "monthly_retention_months",
    "yearly_years": "yearly_retention_years",
}


def add_commands(commands, sub) -> None:
    policy = commands.add_parser("policy", help="backup policies").add_subparsers(dest="policy_command", required=True)
    p = sub(policy, "list", policy_list, "List a vault's backup policies with their rules in words.")
    p.add_argument("--vault", required=True, help="id or name")
    p = sub(policy, "show", policy_show, "Show a backup policy.")
    p.add_argument("policy", help="id or name")
    p.add_argument("--vault", required=True, help="id or name")
    p = sub(policy, "create", policy_create, "Create a backup policy.")
    p.add_argument("--vault", required=True, help="id or name")
    p.add_argument("--name", required=True)
    _rule_options(p)
    p = sub(policy, "update", policy_update, "Change a backup policy (only the options given).")
    p.add_argument("policy", help="id or name")
    p.add_argument("--vault", required=True, help="id or name")
    p.add_argument("--name")
    p.add_argument("--approval", help="the approved request's id, where a resource guard needs one to keep less")
    _rule_options(p)


def _rule_options(p) -> None:
    days = "comma-separated weekdays (Monday ... Sunday, or 0-6 from Monday)"
    p.add_argument("--weekly", dest="schedule_days", help=f"a weekly schedule on these days: {days}")
    p.add_argument("--daily", dest="daily_schedule", action="store_true", help="a daily schedule (the default)")
    p.add_argument("--time", dest="time_of_day", help="HH:MM, floored to 30 minutes (default 22:00)")
    p.add_argument("--timezone", help="an IANA name (default UTC)")
    p.add_argument("--daily-days", help="keep daily points 1-366 days ('none': no daily rule)")
    p.add_argument("--weekly-weeks", help="keep weekly points 1-260 weeks")
    p.add_argument("--weekly-on", help=f"the weekly rule's days: {days}")
    for rule, span in (
        (
            "monthly",
            "months",
        ),
        ("yearly", "years"),
    ):
        p.add_argument(f"--{rule}-{span}", help=f"keep {rule} points this many {span}")
        p.add_argument(f"--{rule}-days", help="day-based: days of the month, 1-28 or Last (comma-separated)")
        p.add_argument(f"--{rule}-weeks", help="week-based: First, Second, Third, Fourth or Last (comma-separated)")
        p.add_argument(f"--{rule}-weekdays", help=f"week-based: {days}")
    p.add_argument("--yearly-in", dest="yearly_months", help="the yearly rule's months (January ... or 1-12)")


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _weekdays(text: str | None) -> list:
    names = {day.lower(): i for i, day in enumerate(policies.WEEKDAYS)} | {
        day[:3].lower(): i for i, day in enumerate(policies.WEEKDAYS)
    }
    return [names.get(part.lower(), part) for part in _split(text)]


def _data(options, data: dict) -> dict:
    """The policy's fields with the options given laid over them (as the form's would be)."""
    if options.get("name"):
        data["name"] = options["name"]
    if options.get("schedule_days"):
        data["frequency"], data["days_of_week"] = "weekly", _weekdays(options["schedule_days"])
    elif options.get("daily_schedule"):
        data["frequency"], data["days_of_week"] = "daily", []
    for option in ("time_of_day", "timezone"):
        if options.get(option):
            data[option] = options[option]
    for option, field in COUNTS.items():
        value = options.get(option)
        if value is not None:
            data[field] = None if value.lower() == "none" else value
    if options.get("weekly_on"):
        data["weekly_retention_days"] = _weekdays(options["weekly_on"])
    for rule in ("monthly", "yearly"):
        day_based, week_based = options.get(f"{rule}_days"), options.get(f"{rule}_weeks")
        if day_based and week_based:
            raise CommandError(
                f"Give --{rule}-days (day-based) or --{rule}-weeks with --{rule}-weekdays (week-based), not both."
            )
        if day_based:
            data[f"{rule}_retention_format"] = BackupPolicy.RetentionFormat.DAY_BASED
            data[f"{rule}_retention_days_of_month"] = _split(day_based)
        if week_based:
            data[f"{rule}_retention_format"] = BackupPolicy.RetentionFormat.WEEK_BASED
            data[f"{rule}_retention_weeks_of_month"] = _split(week_based)
        if options.get(f"{rule}_weekdays"):
            data[f"{rule}_retention_days_of_week"] = _weekdays(options[f"{rule}_weekdays"])
    if options.get("yearly_months"):
        data["yearly_retention_months"] = _split(options["yearly_months"])
    return data


def _policy(vault, ref: str) -> BackupPolicy:
    found = vault.policies.filter(pk=int(ref)) if ref.isdigit() else vault.policies.filter(name__iexact=ref)
    policy = found.first()
    if policy is None:
        raise CommandError(f"No policy '{ref}' in vault '{vault.name}'.", returncode=resolve.NOT_FOUND)
    return policy


def _shown(policy: BackupPolicy) -> tuple[dict, str]:
    data = policy_out(policy)
    view = data | {"schedule": policies.describe_schedule(policy)}
    keys = ["id", "name", "schedule", "protected_items"]
    text = fields(view, keys) + "\n" + "\n".join(f"{'retention':<15}  {line}" for line in data["retention"])
    return data, text


def policy_list(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    rows = [policy_out(p) | {"schedule": policies.describe_schedule(p)} for p in vault.policies.all()]
    view = [row | {"retention_text": "; ".join(row["retention"])} for row in rows]
    return rows, table(view, POLICY_COLUMNS)


def policy_show(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    return _shown(_policy(vault, options["policy"]))


def policy_create(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    data = _data(options, {"frequency": "daily", "time_of_day": "22:00", "timezone": "UTC"})
    try:
        policy = policies.create_policy(vault, data)
    except ValidationError as error:
        raise invalid(error) from None
    return _shown(policy)


def policy_update(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    policy = _policy(vault, options["policy"])
    try:
        policy = policies.update_policy(
            policy, _data(options, initial_for(policy)), user=user, approval=options.get("approval")
        )
    except ValidationError as error:
        raise invalid(error) from None
    return _shown(policy)
