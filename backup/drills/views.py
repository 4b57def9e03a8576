"""The vault's DRILLS tab: each plan, the last result per item with its restore duration (RTO) and trend."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from backup.vaults.access import get_vault_for_user

from . import services
from .models import DrillPlan


@require_http_methods(["GET", "POST"])
@login_required
def vault_drills(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    error = ""
    if request.method == "POST":
        plan = DrillPlan.objects.filter(vault=vault, pk=_int(request.POST.get("plan"))).first()
        if plan is None:
            raise Http404("No such drill plan.")
        try:
            services.start_drill(plan, user=request.user)
        except ValidationError as refusal:
            error = " ".join(refusal.messages)
        else:
            return trigger_client_event(redirect(request.path), "refresh-toasts")
    plans = [
        {"plan": p, "rows": services.item_rows(p)}
        for p in DrillPlan.objects.filter(vault=vault).select_related("sandbox_account")
    ]
    return render(
        request,
        "drills/vault_drills.html",
        {"vault": vault, "tab": "drills", "section": "recovery", "plans": plans, "error": error},
    )


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
