"""Vault > POLICIES: list, create, edit and delete backup policies."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from backup.jobs import asking
from backup.vaults.access import get_vault_for_user

from ..access import get_policy
from ..forms import PolicyForm
from ..models import ProtectedItem
from ..services import policies


def _done(request, vault):
    url = reverse("vault-policies", args=[vault.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@login_required
def policy_list(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    in_use = Count("protected_items", filter=~Q(protected_items__status=ProtectedItem.Status.STOPPED))
    rows = policies.described(vault.policies.annotate(in_use=in_use))
    context = {"vault": vault, "tab": "policies", "section": "recovery", "policies": rows}
    return render(request, "vms/policy_list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def policy_create(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    form = PolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            policies.create_policy(vault, form.data_for_service())
        except ValidationError as error:
            form.apply_error(error)
        else:
            return _done(request, vault)
    return render(request, "vms/partials/policy_form.html", {"vault": vault, "form": form, "policy": None})


@require_http_methods(["GET", "POST"])
@login_required
def policy_edit(request, pk: int, policy_pk: int):
    vault = get_vault_for_user(request.user, pk)
    policy = get_policy(vault, policy_pk)
    form = PolicyForm(request.POST or None, policy=policy)
    approval: dict = {}
    if request.method == "POST" and form.is_valid():

        def update() -> list[ValidationError]:
            try:
                policies.update_policy(policy, form.data_for_service(), user=request.user)
            except ValidationError as error:
                return [error]
            return []

        refused, approval = asking.in_dialog(request.POST, update)
        for error in refused:
            form.apply_error(error)
        if not refused and not approval.get("error"):
            return _done(request, vault)
    context = {"vault": vault, "form": form, "policy": policy, "approval": approval}
    return render(request, "vms/partials/policy_form.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def policy_delete(request, pk: int, policy_pk: int):
    vault = get_vault_for_user(request.user, pk)
    policy = get_policy(vault, policy_pk)
    error = policies.policy_in_use_message(policy) or ""
    if request.method == "POST" and not error:
        try:
            policies.delete_policy(policy)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            return _done(request, vault)
    return render(request, "vms/partials/policy_delete.html", {"vault": vault, "policy": policy, "error": error})
