import re
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from backup.tenancy.services import issue_token

UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DURATION = re.compile(r"^(\d+)([mhdw])$")
LONGEST = timedelta(days=3650)


def lifetime(text: str) -> timedelta:
    """ "90d", "12h", "30m", "2w": how long a token lives."""
    match = DURATION.match(text.strip().lower())
    if match is None or int(match[1]) == 0:
        raise CommandError(f"--expires-in {text!r}: give a positive whole number and a unit, e.g. 30m, 12h, 90d or 2w.")
    value = timedelta(**{UNITS[match[2]]: int(match[1])})
    if value > LONGEST:
        raise CommandError(f"--expires-in {text!r}: a token may live at most {LONGEST.days} days.")
    return value


class Command(BaseCommand):
    help = (
        "Print a new API token for USERNAME (use it as 'Authorization: Bearer TOKEN'). It works until revoked, "
        "or until --days N / --expires-in DURATION has passed."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument("--days", type=int, help="the token expires after N days")
        expiry.add_argument("--expires-in", dest="expires_in", help="the token expires after e.g. 30m, 12h, 90d, 2w")

    def handle(self, *args, username: str, name: str, days: int | None, expires_in: str | None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if days is not None:
            if days <= 0:
                raise CommandError(f"--days {days}: give a positive number of days.")
            expires_in = f"{days}d"
        life = lifetime(expires_in) if expires_in is not None else None
        raw = issue_token(user, name, lifetime=life)
        self.stdout.write(raw)
        # The token alone on stdout, so `TOKEN=$(manage.py issue_token NAME)` keeps working; the expiry on stderr.
        token = user.api_tokens.get(prefix=raw[:12])
        self.stderr.write(f"{token.prefix}… {token.expiry_display}")
