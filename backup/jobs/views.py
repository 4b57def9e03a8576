from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from . import services
from .errors import JobFailed
from .models import Job


def get_job_for_user(user, pk) -> Job:
    try:
        return Job.objects.for_user(user).select_related("subscription").get(pk=pk)
    except (Job.DoesNotExist, ValueError, TypeError):
        raise Http404("No such job.") from None


@require_GET
@login_required
def job_detail(request, pk: int):
    job = get_job_for_user(request.user, pk)
    template = "jobs/partials/job_detail.html" if request.htmx else "jobs/job_detail.html"
    response = render(request, template, {"job": job, "subtasks": job.subtasks.all()})
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
    except JobFailed as failure:
        error = failure.message
    return render(request, "jobs/partials/job_detail.html", {"job": job, "subtasks": job.subtasks.all(),
                                                              "cancel_error": error})
