import os

from celery import Celery, signals

from portal.broker import guard_redis_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
guard_redis_transport()

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Workers log through Django's LOGGING (JSON in production, with the job id on a job's lines)
    instead of Celery's own format."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
