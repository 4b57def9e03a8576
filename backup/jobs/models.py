from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Count, Q
from django.utils import timezone

from backup.lists import natural_key
from backup.tenancy.models import SubscriptionScopedQuerySet
from backup.tenancy.prepared import Prepared


class Operation(models.TextChoices):
    DISCOVERY = "discovery", "Discovery"
    REGISTER = "register", "Register"
    UNREGISTER = "unregister", "Unregister"
    CONFIGURE_PROTECTION = "configure_protection", "Configure Protection"
    BACKUP = "backup", "Backup"
    RESTORE = "restore", "Restore"
    STOP_PROTECTION = "stop_protection", "Stop Protection"
    DELETE_BACKUP_DATA = "delete_backup_data", "Delete Backup Data"
    PRUNE = "prune", "Prune"
    GARBAGE_COLLECTION = "garbage_collection", "Garbage Collection"
    VERIFY = "verify", "Verify"
    DELETE_VAULT = "delete_vault", "Delete Vault"
    CREATE_VAULT = "create_vault", "Create Vault"
    DRILL = "drill", "Restore Drill"
    REPLICATE = "replicate", "Replicate"


class JobStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.IN_PROGRESS, JobStatus.CANCELLING)
# The vault's own housekeeping: the Jobs page hides them unless asked, and they stay out of toasts and counts.
MAINTENANCE_OPERATIONS = (Operation.PRUNE, Operation.GARBAGE_COLLECTION, Operation.REPLICATE)
FINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def id_window(page, order) -> tuple[int, int, bool]:
    """Where a page's ids are read: (offset, limit, backwards). Nearer the end of its order than the start (the
    oldest jobs), from the other end of the index, read backwards, when the order is total (ends in the id): a
    vault's last page then skips a few rows, not 35,000."""
    offset, limit = page.start_index() - 1, page.end_index() - page.start_index() + 1
    skipped_from_end = page.paginator.count - page.end_index()
    if order and skipped_from_end < offset and str(order[-1]).lstrip("-") in ("id", "pk"):
        return skipped_from_end, limit, True
    return offset, limit, False


class JobQuerySet(SubscriptionScopedQuerySet):
    def active(self) -> "JobQuerySet":
        return self.filter(status__in=ACTIVE_STATUSES)

    def for_vault_page(
        self,
        vault_id: int,
        *,
        operation: str = "",
        status: str = "",
        item: str = "",
        since=None,
        until=None,
        maintenance: bool = False,
        order: tuple[str, ...] = ("-started_at", "-id"),
    ) -> "JobQuerySet":
        """A vault's Jobs page, newest first unless `order` says otherwise. Each filter but the item matches an
        index (vault_id + field + started_at); the item is any part of its name, in any case, which a trigram index
        of the name answers on PostgreSQL (job_item_name_trgm). "In progress" includes Cancelling, as both are still
        running; maintenance jobs only when asked for (or chosen as the operation). The JSON params are left out."""
        jobs = self.filter(vault_id=vault_id)
        if operation:
            jobs = jobs.filter(operation=operation)
        elif not maintenance:
            jobs = jobs.exclude(operation__in=MAINTENANCE_OPERATIONS)
        if status == JobStatus.IN_PROGRESS:
            jobs = jobs.filter(status__in=ACTIVE_STATUSES)
        elif status:
            jobs = jobs.filter(status=status)
        if item:
            jobs = jobs.filter(item_name__icontains=item)
        if since is not None:
            jobs = jobs.filter(started_at__gte=since)
        if until is not None:
            jobs = jobs.filter(started_at__lt=until)
        return jobs.defer("params").order_by(*order)

    def page_of(
        self,
        jobs: "JobQuerySet",
        number,
        per_page: int,
        natural: tuple[str, bool] | None = None,
        fields: tuple[str, ...] = (),
        values: bool = False,
    ):
        """Paginate by id (an index-only scan, from whichever end of the order is nearer the page), and read the
        page's rows in the same query: `id IN (the page's ids)`, the ids a LIMIT/OFFSET subquery. The count is the
        paginator's. `fields` loads only those (what a page shows; reading another would cost a query per row).
        `natural` (a text field, descending) sorts by that field naturally instead (cap-2 before cap-10). `values`
        gives the rows as dicts of `fields` instead of model instances (the API's page: building fifty instances
        cost more than reading them)."""
        from django.core.paginator import Paginator

        rows: Any = self.only(*fields) if fields else self.defer("params")
        if values:
            rows = self.values(*fields)
        if natural is not None:
            # NaturalOrder gives the Paginator only what it uses (len and slices), not the whole Sequence protocol.
            ordered: Any = NaturalOrder(jobs, *natural)
            page = Paginator(ordered, per_page).get_page(number)
            ids = list(page.object_list)
            if values:
                by_id = {row["id"]: row for row in rows.filter(pk__in=ids)} if ids else {}
            else:
                by_id = rows.in_bulk(ids) if ids else {}
            page.object_list = [by_id[pk] for pk in ids if pk in by_id]
            return page
        page = Paginator(jobs.values_list("id", flat=True), per_page).get_page(number)
        count = page.paginator.count
        if not count:
            page.object_list = []
            return page
        order = jobs.query.order_by or self.model._meta.ordering
        offset, limit, backwards = id_window(page, order)
        if backwards:
            from_end = jobs.reverse().values_list("id", flat=True)
            page.object_list = from_end[offset : offset + limit]
        page.object_list = list(rows.filter(pk__in=page.object_list).order_by(*order))
        return page

    def counts_since(self, vault_id: int, since: datetime) -> dict[str, int]:
        """Succeeded / failed / in progress jobs of a vault since a time, in one query (the dashboard), its SQL built
        once (backup/tenancy/prepared.py)."""
        found = _COUNTS_SINCE(vault_id, since)
        completed, failed, in_progress = found[0] if found else (0, 0, 0)
        return {"completed": completed, "failed": failed, "in_progress": in_progress}


class NaturalOrder:
    """The ids of `jobs` sorted naturally by one text field (an item or cloud-service name), newest first within a
    name, sliced as the Paginator asks. No SQL sorts "cap-2" before "cap-10" on both SQLite and PostgreSQL, and
    reading every matching row to sort it in Python would be slow with a vault's 200,000 jobs; so one GROUP BY
    counts the jobs of each name, the names are sorted in Python, and a page reads only the names it covers:
    the first and the last by offset in SQL, the whole ones between in one query."""

    def __init__(self, jobs: JobQuerySet, name_field: str, descending: bool):
        self.jobs = jobs.order_by("-started_at", "-id")
        self.field = name_field
        counts = jobs.order_by().values_list(name_field).annotate(n=models.Count("id")).values_list(name_field, "n")
        self.names = sorted(counts, key=lambda row: (natural_key(row[0]), row[0]))
        if descending:  # empty names stay last either way, as the other lists do
            self.names = [row for row in self.names if row[0]][::-1] + [row for row in self.names if not row[0]]

    def __len__(self) -> int:
        return sum(n for _, n in self.names)

    def count(self) -> int:
        return len(self)

    def __getitem__(self, wanted: slice) -> list[int]:
        start, stop = wanted.start or 0, wanted.stop if wanted.stop is not None else len(self)
        covered: list[tuple[str, int, int]] = []  # (name, first row wanted within it, rows wanted)
        offset = 0
        for name, n in self.names:
            lo, hi = max(start - offset, 0), min(stop - offset, n)
            if lo < hi:
                covered.append((name, lo, hi - lo))
            offset += n
            if offset >= stop:
                break
        if not covered:
            return []
        whole = [name for name, lo, size in covered[1:-1]]
        by_name: dict[str, list[int]] = {}
        for name, pk in self.jobs.filter(**{f"{self.field}__in": whole}).values_list(self.field, "id"):
            by_name.setdefault(name, []).append(pk)
        for name, lo, size in {covered[0][0]: covered[0], covered[-1][0]: covered[-1]}.values():
            by_name[name] = list(self.jobs.filter(**{self.field: name}).values_list("id", flat=True)[lo : lo + size])
        return [pk for name, _, _ in covered for pk in by_name.get(name, [])]


def is_property_label(key: str) -> bool:
    """A job's result holds two kinds of keys: the properties its details page shows, under the product's
    labels ("Backup Size", "Virtual machine"), and what the job records for itself (`recovery_point`,
    `made`), lower-case identifiers that no page prints."""
    return key[:1].isupper()


class Job(models.Model):
    """One operation on one item, run by a Celery worker; its row is the truth about it.

    The jobs app stays generic: it names its vault and item by id and type instead of importing
    the apps above it. `lock_key` names what the job needs to itself (an item, or a vault's
    discovery); a partial unique index lets only one active job hold a key, so two requests
    racing for the same item cannot both run.
    """

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.CASCADE, related_name="jobs")
    vault_id = models.BigIntegerField(null=True, blank=True)
    item_type = models.CharField(max_length=30, blank=True)
    item_id = models.BigIntegerField(null=True, blank=True)
    item_name = models.CharField(max_length=200, blank=True)
    item_parent = models.CharField(max_length=200, blank=True, help_text="The item's cloud service.")
    operation = models.CharField(max_length=30, choices=Operation.choices)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.IN_PROGRESS)
    lock_key = models.CharField(max_length=100, null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    scheduled = models.BooleanField(default=False)
    cancellable = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    recommended_action = models.TextField(blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lock_key"],
                condition=models.Q(status__in=["in_progress", "cancelling"]),
                name="one_active_job_per_lock_key",
            )
        ]
        indexes = [
            models.Index(fields=["vault_id", "-started_at"], name="job_vault_started"),
            # Covers the Jobs page's order (newest first, id breaks ties): deep pages are index-only scans.
            models.Index(fields=["vault_id", "-started_at", "-id"], name="job_vault_started_id"),
            # The same without the maintenance jobs, which the Jobs page hides unless asked: its default view (and
            # its count) reads only this index, however deep the page; otherwise each row's operation is fetched.
            # With the status beside each entry (PostgreSQL), the dashboard counts its jobs by status from it too.
            models.Index(
                fields=["vault_id", "-started_at", "-id"],
                name="job_vault_started_nomaint_st",
                condition=~models.Q(operation__in=MAINTENANCE_OPERATIONS),
                include=["status"],
            ),
            models.Index(fields=["vault_id", "status", "-started_at"], name="job_vault_status_started"),
            models.Index(fields=["vault_id", "operation", "-started_at"], name="job_vault_op_started"),
            models.Index(fields=["vault_id", "item_name", "-started_at"], name="job_vault_item_started"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} {self.item_name} ({self.get_status_display()})"

    @property
    def properties(self) -> list[tuple[str, object]]:
        """What the job details page lists: the properties the job showed, and the warning of a job that
        ended Completed with one; never the keys the job records for itself."""
        result = self.result or {}
        shown = [(key, value) for key, value in result.items() if is_property_label(key)]
        if result.get("warning"):
            shown.append(("Warning", result["warning"]))
        return shown

    @property
    def item_label(self) -> str:
        """How toasts and messages name the item: "web01 (cs2)"."""
        return f"{self.item_name} ({self.item_parent})" if self.item_parent else self.item_name

    @property
    def is_maintenance(self) -> bool:
        return self.operation in MAINTENANCE_OPERATIONS

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration(self):
        end = self.ended_at or timezone.now()
        return end - self.started_at

    # The Jobs page renders fifty rows at a time; building these links by formatting beats calling
    # reverse() three times a row.
    @property
    def detail_url(self) -> str:
        return f"/jobs/{self.pk}/"

    @property
    def row_url(self) -> str:
        return f"/jobs/{self.pk}/row/"

    @property
    def cancel_url(self) -> str:
        return f"/jobs/{self.pk}/cancel/"

    @property
    def duration_display(self) -> str:
        return format_duration(self.duration)


def format_duration(delta) -> str:
    """ "45s", "3m 05s", "2h 04m": how the Jobs page shows a duration."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


class SubTask(models.Model):
    """A step of a job ("Take Snapshot", "Transfer data to Backup vault"), with its own status and time."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="subtasks")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.IN_PROGRESS)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "position", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def duration(self):
        end = self.ended_at or timezone.now()
        return end - self.started_at

    @property
    def duration_display(self) -> str:
        return format_duration(self.duration)


# The dashboard's counts (JobQuerySet.counts_since): one row, grouped by the vault it filters on, or none.
_COUNTS_SINCE = Prepared(
    Job,
    lambda vault_id, since: Job.objects.filter(vault_id=vault_id, started_at__gte=since)
    .exclude(operation__in=MAINTENANCE_OPERATIONS)
    .order_by()
    .values("vault_id")
    .annotate(
        completed=Count("id", filter=Q(status=JobStatus.COMPLETED)),
        failed=Count("id", filter=Q(status=JobStatus.FAILED)),
        in_progress=Count("id", filter=Q(status__in=ACTIVE_STATUSES)),
    )
    .values_list("completed", "failed", "in_progress"),
    int,
    datetime,
)
