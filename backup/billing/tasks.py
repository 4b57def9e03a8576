from celery import shared_task

from . import services


@shared_task
def meter_usage() -> int:
    """Hourly: record today's usage of every protected item (and yesterday's, if missed)."""
    return services.meter_usage()


@shared_task
def recompute_month(month: str) -> int:
    """For operators (admin action, overview page): fill the missing daily records of a month (YYYY-MM)."""
    from .months import Month

    return services.recompute_month(Month.parse(month))
