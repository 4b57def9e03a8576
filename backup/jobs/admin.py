from django.contrib import admin, messages
from django.utils.html import format_html

from . import services
from .errors import Refused
from .models import Job, SubTask


class ReadOnlyAdminMixin:
    """History is not edited by hand: anyone may look (with the view permission), nobody may add,
    change or delete, superusers included. Operators act through the admin actions, which start jobs."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OperateActionsMixin:
    """Actions that start jobs need the model's change permission (Operators), not only view (Support)."""

    def has_operate_permission(self, request) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


def report_started(modeladmin, request, started: list, refused: list[str], verb: str) -> None:
    """One message for the jobs an action started, and one per refusal, with the product's reason."""
    if started:
        ids = ", ".join(f"#{job.pk}" for job in started)
        modeladmin.message_user(request, f"{verb}: {len(started)} job(s) started ({ids}).", messages.SUCCESS)
    for reason in refused:
        modeladmin.message_user(request, reason, messages.ERROR)


class SubTaskInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SubTask
    extra = 0
    fields = ("position", "name", "status", "started_at", "ended_at", "duration_display")
    readonly_fields = fields


@admin.register(Job)
class JobAdmin(OperateActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "operation",
        "item_name",
        "status_badge",
        "subscription",
        "vault_id",
        "scheduled",
        "started_at",
        "duration_display",
        "progress_percent",
        "attempts",
        "error_code",
    )
    list_filter = ("status", "operation", "scheduled", "item_type", "subscription")
    search_fields = ("=id", "item_name", "error_code", "error_message", "lock_key", "created_by__username")
    date_hierarchy = "started_at"
    list_select_related = ("subscription",)
    inlines = [SubTaskInline]
    actions = ["retry_jobs", "cancel_jobs"]

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: Job) -> str:
        return format_html('<span class="ops-status ops-status-{}">{}</span>', job.status, job.get_status_display())

    @admin.action(description="Retry the selected failed jobs (as new jobs)", permissions=["operate"])
    def retry_jobs(self, request, queryset) -> None:
        started, refused = [], []
        for job in queryset.select_related("subscription"):
            try:
                new = services.retry(job, request.user)
            except Refused as refusal:
                refused.append(f"Job #{job.pk}: {refusal.message}")
                continue
            if new.is_active:
                started.append(new)
            else:
                # Another operation holds the item: the new job was recorded Failed with the reason.
                refused.append(f"Job #{job.pk}: the retry (job #{new.pk}) failed at once - {new.error_message}")
        report_started(self, request, started, refused, "Retry")

    @admin.action(description="Cancel the selected running jobs", permissions=["operate"])
    def cancel_jobs(self, request, queryset) -> None:
        cancelled, refused = [], []
        for job in queryset:
            try:
                cancelled.append(services.request_cancel(job))
            except Refused as refusal:
                refused.append(f"Job #{job.pk}: {refusal.message}")
        if cancelled:
            self.message_user(request, f"Cancellation requested for {len(cancelled)} job(s).", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)


@admin.register(SubTask)
class SubTaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "job", "status", "started_at", "ended_at", "duration_display")
    list_filter = ("status", "name")
    search_fields = ("name", "=job__id")
    date_hierarchy = "started_at"
    list_select_related = ("job",)
