from django.core.management.base import BaseCommand, CommandError

from backup.billing.months import BadMonth, Month
from backup.billing.services import recompute_month


class Command(BaseCommand):
    help = "Fill the missing daily usage records of a month (recorded days are never changed)."

    def add_arguments(self, parser):
        parser.add_argument("month", help="YYYY-MM")

    def handle(self, *args, month: str, **options):
        try:
            parsed = Month.parse(month)
        except BadMonth as error:
            raise CommandError(str(error)) from None
        written = recompute_month(parsed)
        self.stdout.write(f"{parsed}: {written} missing daily records filled.")
