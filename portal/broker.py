"""Keeps a Celery worker alive through a broker outage.

On the Redis transport, a worker that loses its connection while it holds an unacknowledged message (every
running job: tasks are acked late) closes the broken connection twice: the first close detaches the transport
from its connection, and the second one then tries to put the held message back through that detached
transport. kombu raises AttributeError there instead of a connection error, Celery does not recognise it as
recoverable, and the worker exits ("Unrecoverable error: 'NoneType' object has no attribute 'hostname'"), so
every blip of the broker would cost the deployment a worker.

A detached transport cannot reach the broker, which is exactly what a connection error says: turning the
AttributeError into redis' ConnectionError lets kombu ignore it while closing and Celery reconnect as it does
for any other outage. The held message is not lost either way: it stays in the broker's unacked set (or was
lost with a broker that restarted empty) and the job's row in the database decides what happens next
(claim() refuses a duplicate of a finished job; requeue_unclaimed() resends a job nobody claimed).
"""

from __future__ import annotations

_PATCHED_ATTR = "_portal_detached_transport_is_a_connection_error"


def guard_redis_transport() -> None:
    """Make a closed Redis channel raise a connection error, never AttributeError, when it is used again."""
    try:
        import redis
        from kombu.transport import redis as kombu_redis
    except ImportError:  # the redis client is optional: filesystem:// and amqp:// brokers need no patch
        return
    channel = kombu_redis.Channel
    if getattr(channel._connparams, _PATCHED_ATTR, False):
        return
    connparams = channel._connparams

    def _connparams(self, *args, **kwargs):
        if self.connection is None or self.connection.client is None:
            raise redis.exceptions.ConnectionError("the connection to the broker was closed")
        return connparams(self, *args, **kwargs)

    setattr(_connparams, _PATCHED_ATTR, True)
    channel._connparams = _connparams  # type: ignore[method-assign]  # the patch is the point
