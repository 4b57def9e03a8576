import threading
import time
from contextlib import contextmanager

from django.db import close_old_connections, connection
from django.utils import timezone

from .errors import JobCancelled, JobFailed
from .models import Job, JobStatus, SubTask, is_property_label


class JobContext:
    """What a handler gets: its job, steps (sub-tasks), progress, cancellation and results.

    Progress and cancel checks hit the database at most every half second, so a handler may
    call them per chunk.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self._last_write = 0.0
        self._last_cancel_check = 0.0
        self._position = job.subtasks.count()

    @property
    def vault_id(self) -> int:
        """The vault a vault-scoped job works on; such jobs are always started with one."""
        if self.job.vault_id is None:
            raise JobFailed(f"The {self.job.get_operation_display()} job names no vault.", code="NoVault")
        return self.job.vault_id

    @contextmanager
    def step(self, name: str):
        self._position += 1
        sub = SubTask.objects.create(job=self.job, name=name, position=self._position)
        try:
            yield sub
        except JobCancelled:
            _end(sub, JobStatus.CANCELLED)
            raise
        except BaseException:
            _end(sub, JobStatus.FAILED)
            raise
        _end(sub, JobStatus.COMPLETED)

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_write < 0.5 and done < total:
            return
        self._last_write = now
        percent = int(done * 100 / total) if total else 100
        Job.objects.filter(pk=self.job.pk).update(
            bytes_done=done, bytes_total=total, progress_percent=min(percent, 100), heartbeat_at=timezone.now()
        )

    def cancel_requested(self) -> bool:
        now = time.monotonic()
        if now - self._last_cancel_check < 0.5:
            return False
        self._last_cancel_check = now
        return Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists()

    def stop_cancelling(self) -> None:
        """From here on the job runs to its end: a cancel asked now gets "not in a cancellable state"."""
        Job.objects.filter(pk=self.job.pk).update(cancellable=False)
        self.job.cancellable = False

    def show(self, properties: dict) -> None:
        """Properties for the job details page, under the product's labels ("Backup Size"), values formatted."""
        internal = [key for key in properties if not is_property_label(key)]
        if internal:
            raise ValueError(f"not a property label (record it instead): {', '.join(internal)}")
        self._write(properties)

    def record(self, **values) -> None:
        """What the job keeps for itself and the portal (ids, byte counts): never shown on the job page."""
        labels = [key for key in values if is_property_label(key)]
        if labels:
            raise ValueError(f"a property label (show it instead): {', '.join(labels)}")
        self._write(values)

    def _write(self, values: dict) -> None:
        self.job.result.update(values)
        Job.objects.filter(pk=self.job.pk).update(result=self.job.result)


def _end(sub: SubTask, status: str) -> None:
    sub.status = status
    sub.ended_at = timezone.now()
    sub.save(update_fields=["status", "ended_at"])


class Heartbeat:
    """Touches the job's heartbeat from a side thread while a handler blocks in long calls."""

    def __init__(self, job_id: int, every: float = 10.0) -> None:
        self.job_id = job_id
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                Job.objects.filter(pk=self.job_id).update(heartbeat_at=timezone.now())
        finally:
            close_old_connections()
            connection.close()
