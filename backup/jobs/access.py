"""The jobs a user may open (backup/tenancy/access.py says how access works)."""

from django.http import Http404

from .models import Job


def get_job_for_user(user, pk) -> Job:
    try:
        return Job.objects.for_user(user).select_related("subscription").get(pk=pk)
    except (Job.DoesNotExist, ValueError, TypeError):
        raise Http404("No such job.") from None
