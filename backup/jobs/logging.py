"""The job id on every log line of a job.

The runner sets `current_job_id` around a handler (`job_log_context`); `JobIdFilter`, installed on the
log handlers by LOGGING, copies it onto each record as `record.job_id`, so the JSON formatter writes it
as a field and plain-text lines can show it too. Lines logged outside a job carry `job_id: null`.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

current_job_id: ContextVar[int | None] = ContextVar("current_job_id", default=None)


class JobIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            record.job_id = current_job_id.get()
        return True


@contextmanager
def job_log_context(job_id: int) -> Iterator[None]:
    token = current_job_id.set(job_id)
    try:
        yield
    finally:
        current_job_id.reset(token)
