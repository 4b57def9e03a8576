"""The vault's DASHBOARD and JOBS tabs (they live in vms: the dashboard counts protected machines and
recovery points, and the vaults app cannot import the vms or render the jobs list itself)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from backup.jobs.views import render_vault_jobs
from backup.vaults.access import get_vault_for_user

from ..services import dashboard


@require_GET
@login_required
@vary_on_headers("HX-Request")
def vault_jobs(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    return render_vault_jobs(request, vault)


@require_GET
@login_required
def vault_dashboard(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    context = {"vault": vault, "tab": "dashboard", "section": "recovery", **dashboard.page(vault, timezone.now())}
    return render(request, "vms/dashboard.html", context)
