"""What operators look at: figures shared by the admin overview page and the /metrics scrape.

Each function answers quickly or gives up: a worker ping waits at most a second, store sizes are
cached for a minute (walking a store's chunk files is not free).
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from backup import engine
from backup.jobs.models import Job
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem

log = logging.getLogger(__name__)
STORE_STATS_TTL_S = 60.0
_store_stats_cache: dict[int, tuple[float, engine.StoreStats | None]] = {}


def jobs_per_state(hours: int = 24) -> dict[str, int]:
    since = timezone.now() - timedelta(hours=hours)
    rows = Job.objects.order_by().filter(started_at__gte=since).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def failing_items():
    return (
        ProtectedItem.objects.filter(status=ProtectedItem.Status.BACKUP_FAILING)
        .select_related("vault__subscription")
        .order_by("vault__name", "vm_name")
    )


def workers_alive(timeout: float = 1.0) -> list[str] | None:
    """Hostnames of the Celery workers that answered a ping; None when the broker cannot be asked."""
    from portal.celery import app

    try:
        replies = app.control.inspect(timeout=timeout).ping() or {}
    except Exception:
        log.warning("could not ping the workers", exc_info=True)
        return None
    return sorted(replies)


def queue_length() -> int | None:
    """Tasks waiting in the default queue: a passive declare on RabbitMQ, LLEN on Redis, message files in the
    broker folder otherwise. Messages a worker holds are not counted on any of them."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    broker = settings.CELERY_BROKER_URL
    try:
        if broker.startswith("filesystem://"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            return sum(1 for f in folder.iterdir() if f.name.endswith(f".{queue}.msg"))
        if broker.startswith(("redis://", "rediss://")):
            import redis

            return int(redis.Redis.from_url(broker, socket_timeout=1).llen(queue))
        if broker.startswith(("amqp://", "amqps://", "pyamqp://")):
            from amqp.exceptions import NotFound
            from kombu import Connection

            with Connection(broker, connect_timeout=1) as connection:
                try:
                    return connection.default_channel.queue_declare(queue, passive=True).message_count
                except NotFound:  # no worker has declared it yet: nothing can be waiting in it
                    return 0
    except Exception:
        log.warning("could not measure the queue %s", queue, exc_info=True)
    return None


@dataclass
class VaultStore:
    vault: Vault
    stats: engine.StoreStats | None  # None: the store cannot be opened


def store_stats(vault: Vault) -> engine.StoreStats | None:
    now = time.monotonic()
    cached = _store_stats_cache.get(vault.pk)
    if cached and now - cached[0] < STORE_STATS_TTL_S:
        return cached[1]
    try:
        stats = engine.open_store(vault.store_location, vault.store_options).stats()
    except (engine.EngineError, OSError, ValueError):
        stats = None
    _store_stats_cache[vault.pk] = (now, stats)
    return stats


def vault_stores() -> list[VaultStore]:
    vaults = Vault.objects.exclude(status=Vault.Status.CREATING).select_related("subscription").order_by("pk")
    return [VaultStore(vault, store_stats(vault)) for vault in vaults]
