"""Job figures for the Prometheus scrape, computed from the database.

Jobs run in worker processes on many hosts; counting rows at scrape time gives the same totals
whichever web process is scraped, with no shared metric files. Each function is one query.
"""

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum

from .models import FINAL_STATUSES, Job, JobStatus

# Seconds: from a discovery (seconds) to a first full backup of a large machine (hours).
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)


def jobs_by_operation_and_status() -> list[tuple[str, str, int]]:
    rows = Job.objects.order_by().values("operation", "status").annotate(n=Count("id"))
    return [(r["operation"], r["status"], r["n"]) for r in rows]


def duration_histograms() -> dict[str, tuple[list[int], int, float]]:
    """Per operation, finished jobs only: (cumulative counts per bucket, count, sum of seconds)."""
    finished = (
        Job.objects.order_by()
        .filter(status__in=FINAL_STATUSES, ended_at__isnull=False)
        .annotate(took=ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField()))
    )
    buckets = {f"le_{b}": Count("id", filter=Q(took__lte=timedelta(seconds=b))) for b in DURATION_BUCKETS}
    rows = finished.values("operation").annotate(count=Count("id"), total=Sum("took"), **buckets)
    result = {}
    for row in rows:
        total = row["total"] or timedelta(0)
        counts = [row[f"le_{b}"] for b in DURATION_BUCKETS]
        result[row["operation"]] = (counts, row["count"], total.total_seconds())
    return result


def bytes_transferred_by_operation(result_key: str = "backup_size_bytes") -> dict[str, int]:
    """Sum of a byte count the handlers record in the job's result (Backup: `backup_size_bytes`, the
    data sent to the vault). Jobs are never deleted, so the sums only grow, as a counter must."""
    from django.db.models import BigIntegerField
    from django.db.models.fields.json import KeyTextTransform
    from django.db.models.functions import Cast

    rows = (
        Job.objects.order_by()
        .filter(status=JobStatus.COMPLETED, result__has_key=result_key)
        .values("operation")
        .annotate(total=Sum(Cast(KeyTextTransform(result_key, "result"), BigIntegerField())))
    )
    return {row["operation"]: int(row["total"] or 0) for row in rows}
