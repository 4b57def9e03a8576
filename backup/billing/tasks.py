from celery import shared_task

from . import services


@shared_task
def meter_usage() -> int:
    """Hourly: record today's usage of every protected item (and yesterday's, if missed)."""
    return services.meter_usage()
