"""The operator overview page of the admin (/admin/overview/): how the service is doing right now."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from backup.billing import tasks as billing_tasks
from backup.billing.months import BadMonth, Month
from backup.jobs.models import JobStatus

from . import ops


def overview(request):
    if not request.user.has_perm("jobs.view_job"):
        raise PermissionDenied
    per_state = ops.jobs_per_state(24)
    context = {
        **admin.site.each_context(request),
        "title": "Operator overview",
        "jobs_per_state": [(label, value, per_state.get(value, 0)) for value, label in JobStatus.choices],
        "jobs_total": sum(per_state.values()),
        "failing_items": ops.failing_items()[:100],
        "workers": ops.workers_alive(),
        "queue_length": ops.queue_length(),
        "vault_stores": ops.vault_stores(),
        "can_recompute": request.user.has_perm("billing.change_dailyusage"),
    }
    return TemplateResponse(request, "admin/overview.html", context)


@require_POST
def recompute_usage(request):
    """Queue the recomputation of a month's usage records (a Celery task, never in the request)."""
    if not request.user.has_perm("billing.change_dailyusage"):
        raise PermissionDenied
    try:
        month = Month.parse(request.POST.get("month", "").strip())
    except BadMonth as error:
        messages.error(request, str(error))
    else:
        billing_tasks.recompute_month.delay_on_commit(str(month))
        messages.success(request, f"Recomputing the usage of {month} in the background.")
    return redirect("admin-overview")
