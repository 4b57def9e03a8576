from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from . import pages, services
from .access import get_job_for_user
from .errors import Refused
from .filters import PAGE_SIZE, JobFilterForm
from .templatetags.job_rows import ROW_FIELDS


def render_vault_jobs(request, vault, **context):
    """The vault's JOBS tab. The vault was already checked for the user by the caller (the vms app, which
    may import vaults; jobs may not). An htmx request gets only #job-list, which the filters replace."""
    form = JobFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()  # errors are shown at their fields; the valid filters still apply
    filters = form.filters()
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("newer_than", None)
    newer_than = (getattr(form, "cleaned_data", None) or {}).get("newer_than")
    if request.htmx and newer_than is not None:
        return _new_jobs(request, vault.pk, filters, newer_than, query.urlencode())
    page = pages.vault_page(vault.pk, filters, form.page_number(), PAGE_SIZE, form.natural(), fields=ROW_FIELDS)
    newest = max((job.pk for job in page.object_list), default=0)
    context = {
        "vault": vault,
        "tab": "jobs",
        "section": "recovery",
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "headers": form.headers(request.GET),
        "newest": newest,
        "poll_new": page.number == 1 and form.newest_first(),
        **context,
    }
    template = "jobs/partials/job_list.html" if request.htmx and not request.htmx.boosted else "jobs/job_list.html"
    return render(request, template, context)


def _new_jobs(request, vault_id: int, filters: dict, newer_than: int, query: str):
    """The first page's poll: the jobs started since it was drawn (any tab, the scheduler, the CLI), newest first,
    under the same filters, with the poller that asks for the ones after them. Nothing new (most polls) answers
    204 No Content: htmx swaps nothing and the poller asks again with the same `newer_than`."""
    fresh = pages.jobs_since(vault_id, filters, newer_than, ROW_FIELDS, PAGE_SIZE)
    if not fresh:
        return HttpResponse(status=204)
    newest = max((job.pk for job in fresh), default=newer_than)
    return render(request, "jobs/partials/job_new_rows.html", {"jobs": fresh, "newest": newest, "query": query})


@require_GET
@login_required
def job_row(request, pk: int):
    """One row of the Jobs page; polled every 2 s while the job runs, 286 stops the polling."""
    job = get_job_for_user(request.user, pk)
    response = render(request, "jobs/partials/job_row.html", {"job": job})
    if not job.is_active:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_GET
@login_required
@vary_on_headers("HX-Request")
def job_detail(request, pk: int):
    job = get_job_for_user(request.user, pk)
    context = {"job": job, "subtasks": job.subtasks.all()}
    if request.htmx and request.GET.get("modal"):
        return render(request, "jobs/partials/job_modal.html", context)
    template = "jobs/partials/job_detail.html" if request.htmx else "jobs/job_detail.html"
    response = render(request, template, context)
    if request.htmx and not job.is_active and request.GET.get("poll"):
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_POST
@login_required
def cancel(request, pk: int):
    job = get_job_for_user(request.user, pk)
    error = ""
    try:
        job = services.request_cancel(job)
    except Refused as refusal:
        error = refusal.message
    template = "jobs/partials/job_row.html" if request.GET.get("target") == "row" else "jobs/partials/job_detail.html"
    return render(request, template, {"job": job, "subtasks": job.subtasks.all(), "cancel_error": error})
