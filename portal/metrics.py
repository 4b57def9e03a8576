"""Prometheus metrics at /metrics.

- Request latency: a histogram observed by `RequestLatencyMiddleware` in the web process. Under gunicorn
  with several workers set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does), so every worker writes its
  samples to shared files and any worker's scrape sums them all.
- Jobs, bytes transferred, queue length and store sizes: computed when scraped (`PortalCollector`), from
  the database, the broker and the vault stores. Jobs run in worker processes on other hosts; counting
  their rows gives the same answer whichever web process is scraped.

Access: with METRICS_TOKEN set, a scrape needs `Authorization: Bearer <METRICS_TOKEN>`; without it
/metrics answers only when DEBUG is on (404 in production, so it is never open by accident).
"""

import hmac
import os
import time

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from backup.jobs import metrics as job_metrics
from backup.jobs.models import JobStatus

from . import ops

REQUEST_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestLatencyMiddleware:
    """Observes every request; the label is the URL pattern (not the path), so ids do not explode it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name) if match else "unmatched"
        REQUEST_LATENCY.labels(request.method, route or "unmatched", str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


class PortalCollector:
    """Figures computed at scrape time (see the module docstring)."""

    def collect(self):
        yield from self._jobs()
        queue = ops.queue_length()
        if queue is not None:
            yield GaugeMetricFamily("backup_queue_length", "Tasks waiting in the Celery queue.", value=queue)
        stored = GaugeMetricFamily(
            "backup_store_bytes", "Bytes of chunk files in a vault's store.", labels=["vault_id", "vault"]
        )
        logical = GaugeMetricFamily(
            "backup_store_logical_bytes", "Logical bytes of a vault's recovery points.", labels=["vault_id", "vault"]
        )
        for row in ops.vault_stores():
            if row.stats is not None:
                stored.add_metric([str(row.vault.pk), row.vault.name], row.stats.stored_bytes)
                logical.add_metric([str(row.vault.pk), row.vault.name], row.stats.logical_bytes)
        yield stored
        yield logical

    def _jobs(self):
        started = CounterMetricFamily("backup_jobs_started", "Jobs started, by operation.", labels=["operation"])
        ended = {
            status: CounterMetricFamily(f"backup_jobs_{status}", f"Jobs {status}, by operation.", labels=["operation"])
            for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
        }
        running = GaugeMetricFamily(
            "backup_jobs_in_progress", "Jobs running now (or being cancelled).", labels=["operation"]
        )
        totals: dict[str, int] = {}
        active: dict[str, int] = {}
        per_status: dict[tuple[str, str], int] = {}
        for operation, status, count in job_metrics.jobs_by_operation_and_status():
            totals[operation] = totals.get(operation, 0) + count
            per_status[(operation, status)] = count
            if status in (JobStatus.IN_PROGRESS, JobStatus.CANCELLING):
                active[operation] = active.get(operation, 0) + count
        for operation, count in sorted(totals.items()):
            started.add_metric([operation], count)
            running.add_metric([operation], active.get(operation, 0))
            for status, family in ended.items():
                family.add_metric([operation], per_status.get((operation, status), 0))
        yield started
        yield from ended.values()
        yield running

        durations = HistogramMetricFamily(
            "backup_job_duration_seconds", "Duration of finished jobs.", labels=["operation"]
        )
        for operation, (counts, count, total) in sorted(job_metrics.duration_histograms().items()):
            buckets = [(str(float(b)), c) for b, c in zip(job_metrics.DURATION_BUCKETS, counts, strict=True)]
            durations.add_metric([operation], buckets + [("+Inf", count)], total)
        yield durations

        transferred = CounterMetricFamily("backup_bytes_transferred", "Bytes sent to vaults by completed backups.")
        transferred.add_metric([], job_metrics.bytes_transferred_by_operation().get("backup", 0))
        yield transferred


def _authorized(request) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        if not settings.DEBUG:
            raise Http404
        return True
    header = request.headers.get("Authorization", "")
    return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def metrics_view(request):
    if not _authorized(request):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_LATENCY)
    registry.register(PortalCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
