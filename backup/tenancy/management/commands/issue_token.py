from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from backup.tenancy.services import issue_token


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (use it as 'Authorization: Bearer TOKEN')."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        self.stdout.write(issue_token(user, name))
