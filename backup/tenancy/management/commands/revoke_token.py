from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from backup.tenancy.models import ApiToken
from backup.tenancy.services import revoke_token


class Command(BaseCommand):
    help = "Revoke USERNAME's API token that starts with PREFIX (its first 12 characters, e.g. abp_AbCdEfGh)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("prefix", nargs="?", help="omit it to list the user's active tokens")
        parser.add_argument("--by", help="who revokes it (a resource guard's approval names its requester)")
        parser.add_argument("--approval", help="the id of the approved request, where a resource guard needs one")

    def handle(
        self, *args, username: str, prefix: str | None, by: str | None = None, approval: str | None = None, **options
    ):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not prefix:
            for token in ApiToken.objects.active().filter(user=user).order_by("created_at"):
                used = token.last_used_at.isoformat() if token.last_used_at else "never used"
                self.stdout.write(
                    f"{token.prefix}  {token.name}  created {token.created_at.isoformat()}  {used}  "
                    f"{token.expiry_display}"
                )
            return
        actor = get_user_model().objects.filter(username=by).first() if by else None
        if by and actor is None:
            raise CommandError(f"No user named {by!r}.")
        try:
            revoked = revoke_token(user, prefix[:12], by=actor, approval=approval)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if not revoked:
            raise CommandError(f"{username} has no active token starting with {prefix[:12]!r}.")
        self.stdout.write(f"Revoked {revoked} token(s) of {username} starting with {prefix[:12]}.")
