"""Log formats: JSON lines in production (LOG_FORMAT=json, the default when DEBUG is off), readable
text in development. Both carry the job id of the job a line was written in (backup/jobs/logging.py)."""

import logging

from pythonjsonlogger.json import JsonFormatter


class JobJsonFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, job_id, process, and any `extra=`."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["job_id"] = getattr(record, "job_id", None)


class JobTextFormatter(logging.Formatter):
    """`2015-06-01 10:00:00,123 INFO backup.jobs.runner [job 42] message`; no tag outside jobs."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(job_tag)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        job_id = getattr(record, "job_id", None)
        record.job_tag = f" [job {job_id}]" if job_id is not None else ""
        return super().format(record)


def logging_config(log_format: str, level: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"job_id": {"()": "backup.jobs.logging.JobIdFilter"}},
        "formatters": {
            "json": {"()": "portal.logging.JobJsonFormatter"},
            "text": {"()": "portal.logging.JobTextFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["job_id"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # The development server's access lines, in the same format and at the same level as the rest.
            "django.server": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
