"""Celery beat's scheduler for the portal: django-celery-beat's DatabaseScheduler that does not drop a due task it
could not send.

Beat advances an entry's last run before sending its message; when the broker is down the send fails, beat logs
"Couldn't apply scheduled task" and waits for the entry's next due time. For a policy's daily backup that means no
backup that day, and no job is recorded, so requeue_unclaimed() has nothing to resend. This scheduler keeps such
entries and sends them again at every tick until the broker takes them.
"""

from __future__ import annotations

import logging

from django_celery_beat.schedulers import DatabaseScheduler

log = logging.getLogger(__name__)
# Seconds between attempts to send what the broker refused.
RESEND_EVERY_S = 5.0


class RetryingDatabaseScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self._unsent: dict[str, object] = {}
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry, producer=None):
        log.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as exc:
            log.warning(
                "scheduled task %s could not be sent (%s); it will be sent when the broker is back", entry.name, exc
            )
            self._unsent[entry.name] = entry
        else:
            self._unsent.pop(entry.name, None)

    def tick(self, *args, **kwargs):
        for name, entry in list(self._unsent.items()):
            try:
                self.apply_async(entry, producer=self.producer, advance=False)
            except Exception:
                break  # still unreachable: try again at the next tick
            del self._unsent[name]
            log.info("scheduled task %s sent late: the broker is back", name)
        delay = super().tick(*args, **kwargs)
        return min(delay, RESEND_EVERY_S) if self._unsent else delay
