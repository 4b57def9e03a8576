"""SECURITY in the shell's navigation: a resource guard's approval requests (the security role decides those
waiting for it, each requester follows their own) and the suspicious recovery points, which the security role
confirms or dismisses. The same services as the API and the CLI decide."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from backup.guard import services as guard
from backup.guard.models import ApprovalRequest

from ..models import PointAnomaly
from ..services import anomaly

DECIDED_SHOWN = 20


def _page(request, *, errors: dict | None = None, status: int = 200):
    user = request.user
    errors, done = errors or {}, request.GET.get("done", "")
    mine = ApprovalRequest.objects.filter(requested_by=user).select_related("decided_by", "guard__security_group")
    decided = (
        guard.requests_for(user)
        .filter(guard__security_group__user=user)
        .exclude(status=ApprovalRequest.Status.PENDING)
        .exclude(requested_by=user)
        .select_related("requested_by", "decided_by")
    )
    awaiting = guard.awaiting_decision(user).select_related("requested_by", "guard__security_group")
    requests = {
        "awaiting": list(awaiting),
        "mine": list(mine[:100]),
        "decided": list(decided[:DECIDED_SHOWN]),
    }
    for row in [r for rows in requests.values() for r in rows]:
        row.error, row.just_done = errors.get(f"request-{row.pk}", ""), done == f"request-{row.pk}"
    points = list(anomaly.anomalies_for(user).select_related("vault", "decided_by")[:200])
    role = {s: guard.is_security_member(user, s) for s in {found.vault.subscription_id for found in points}}
    for found in points:
        found.error, found.just_done = errors.get(f"point-{found.pk}", ""), done == f"point-{found.pk}"
        found.decidable = found.state == PointAnomaly.State.SUSPICIOUS and role[found.vault.subscription_id]
    # A refusal of a row that has no decision form (the requester's own request) shows above the lists.
    shown = {f"request-{r.pk}" for r in requests["awaiting"]} | {f"point-{a.pk}" for a in points if a.decidable}
    page_error = " ".join(message for key, message in errors.items() if key not in shown)
    context = {"section": "security", "points": points, "page_error": page_error, **requests}
    return render(request, "vms/security.html", context, status=status)


@require_GET
@login_required
def security(request):
    return _page(request)


@require_POST
@login_required
def decide_request(request, request_pk: int):
    """APPROVE or REJECT with a reason: guard.decide refuses anyone outside the role, and the requester."""
    approval = get_object_or_404(guard.requests_for(request.user), pk=request_pk)
    try:
        guard.decide(
            approval,
            request.user,
            approve=request.POST.get("decision") == "approve",
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as error:
        return _page(request, errors={f"request-{approval.pk}": " ".join(error.messages)}, status=400)
    return redirect(f"{reverse('security')}?done=request-{approval.pk}")


@require_POST
@login_required
def decide_point(request, anomaly_pk: int):
    """CONFIRM (an attack: the older points stay held) or DISMISS (a legitimate change: the hold ends)."""
    found = get_object_or_404(anomaly.anomalies_for(request.user), pk=anomaly_pk)
    try:
        anomaly.decide(
            found,
            request.user,
            confirm=request.POST.get("decision") == "confirm",
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as error:
        return _page(request, errors={f"point-{found.pk}": " ".join(error.messages)}, status=400)
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(back)
    return redirect(f"{reverse('security')}?done=point-{found.pk}")
