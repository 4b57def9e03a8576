from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from backup.tenancy.models import Membership, Subscription

DEMO_USER = "demo"
DEMO_PASSWORD = "Backup-Demo-2015"
DEMO_SUBSCRIPTIONS = ["Contoso Production", "Contoso Dev-Test"]


class Command(BaseCommand):
    help = "Create the demo sign-in and its two subscriptions (and their fleet); safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--no-fleet", action="store_true", help="Skip creating virtual machines.")

    def handle(self, *args, no_fleet: bool = False, **options):
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(username=DEMO_USER)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            subscriptions = []
            for name in DEMO_SUBSCRIPTIONS:
                subscription, _ = Subscription.objects.get_or_create(name=name)
                Membership.objects.get_or_create(user=user, subscription=subscription)
                subscriptions.append(subscription)
        if not no_fleet:
            self._seed_fleet(subscriptions)
        self.stdout.write(f"Demo sign-in: {DEMO_USER} / {DEMO_PASSWORD}")

    def _seed_fleet(self, subscriptions) -> None:
        try:
            from backup.vms.seed import seed_fleet
        except ImportError:
            return
        for subscription in subscriptions:
            seed_fleet(subscription, stdout=self.stdout)
