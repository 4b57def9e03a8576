"""BACK UP NOW on the PROTECTED ITEMS tab."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from backup.jobs.errors import Refused
from backup.vaults.access import get_vault_for_user

from ..models import ProtectedItem
from ..services import backup


@require_POST
@login_required
def back_up_now(request, pk: int):
    """Start one on-demand Backup job per ticked protected item; the dialog lists them with their links."""
    vault = get_vault_for_user(request.user, pk)
    ids = [v for v in request.POST.getlist("item") if v.isdigit()]
    items = list(ProtectedItem.objects.filter(vault=vault, pk__in=ids).select_related("vault__subscription"))
    started, refused = [], []
    for item in items:
        try:
            started.append(backup.back_up_now(item, request.user))
        except Refused as refusal:
            refused.append((item, refusal.message))
    context = {
        "vault": vault,
        "started": started,
        "refused": refused,
        "error": "" if items else "Select the protected items to back up first.",
    }
    response = render(request, "jobs/partials/backup_started.html", context, status=200 if items else 400)
    if request.htmx:
        response.status_code = 200  # htmx does not swap 4xx responses by default
        trigger_client_event(response, "refresh-toasts")
    return response
