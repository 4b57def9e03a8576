"""The vault's ALERTS tab (active and resolved, acknowledge) and the alerts tile of its DASHBOARD."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from backup.vaults.access import get_vault_for_user

from . import access
from .models import Alert
from .services import incidents

STATES = {"active": Alert.State.ACTIVE, "resolved": Alert.State.RESOLVED}


def summary(vault) -> dict:
    since = timezone.now() - timedelta(hours=24)
    return Alert.objects.filter(vault=vault).aggregate(
        active=Count("id", filter=Q(state=Alert.State.ACTIVE)),
        critical=Count("id", filter=Q(state=Alert.State.ACTIVE, severity="critical")),
        unacknowledged=Count("id", filter=Q(state=Alert.State.ACTIVE, acknowledged_at__isnull=True)),
        resolved=Count("id", filter=Q(state=Alert.State.RESOLVED, resolved_at__gte=since)),
    )


@require_http_methods(["GET", "POST"])
@login_required
def vault_alerts(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    if request.method == "POST":
        alert = access.get_vault_alert_for_user(request.user, pk, request.POST.get("alert"))
        incidents.acknowledge(alert, request.user)
        return redirect(f"{request.path}?state={request.POST.get('state', 'active')}")
    state = request.GET.get("state", "active")
    state = state if state in STATES else "active"
    alerts = Alert.objects.filter(vault=vault, state=STATES[state]).select_related("acknowledged_by")[:200]
    return render(
        request,
        "alerts/vault_alerts.html",
        {
            "vault": vault,
            "tab": "alerts",
            "section": "recovery",
            "alerts": alerts,
            "state": state,
            "summary": summary(vault),
        },
    )


@require_GET
@login_required
def vault_alerts_tile(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    return render(request, "alerts/partials/tile.html", {"vault": vault, "summary": summary(vault)})
