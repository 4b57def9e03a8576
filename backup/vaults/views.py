from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling, trigger_client_event

from backup.jobs import asking
from backup.lists import Column, ListQuery

from . import access, safeguards, services
from .forms import QuickCreateForm, RedundancyForm
from .models import Vault

VAULT_COLUMNS = [
    Column("name", "NAME", "name"),
    Column("status", "STATUS", "status"),
    Column("subscription", "SUBSCRIPTION", "subscription__name"),
    Column("location", "LOCATION", "region"),
]


@require_GET
@login_required
def vault_list(request):
    query = ListQuery(request.GET, VAULT_COLUMNS, ["name", "region", "subscription__name"], extra_sort=["name"])
    context = query.context(Vault.objects.for_user(request.user).select_related("subscription"))
    return render(request, "vaults/vault_list.html", {**context, "vaults": context["rows"], "section": "recovery"})


@require_GET
@login_required
def vault_row(request, pk: int):
    """A vault's row, polled while it is being created or deleted; once deleted it answers 404 like any vault the
    user cannot see, and portal.js takes the row out of the list (data-gone-on-404)."""
    vault = access.get_vault_for_user(request.user, pk)
    response = render(request, "vaults/partials/vault_row.html", {"vault": vault})
    if vault.status not in (Vault.Status.CREATING, Vault.Status.DELETING):
        # Tell htmx to stop polling: the vault has reached its final state.
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_http_methods(["GET", "POST"])
@login_required
def quick_create(request):
    form = QuickCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        vault = form.save()
        if vault is not None:
            if request.htmx:
                return trigger_client_event(HttpResponseClientRedirect("/vaults/"), "refresh-toasts")
            return redirect("vault-list")
    return render(request, "vaults/partials/quick_create.html", {"form": form})


def _vault_page(request, pk: int, tab: str, template: str, **context):
    vault = access.get_vault_for_user(request.user, pk)
    return render(request, template, {"vault": vault, "tab": tab, "section": "recovery", **context})


@require_GET
@login_required
def quickstart(request, pk: int):
    return _vault_page(request, pk, "quickstart", "vaults/quickstart.html")


@require_http_methods(["GET", "POST"])
@login_required
def configure(request, pk: int):
    vault = access.get_vault_for_user(request.user, pk)
    form = RedundancyForm(request.POST or None, initial={"redundancy": vault.redundancy})
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            services.set_redundancy(vault, form.cleaned_data["redundancy"])
            saved = True
        except ValidationError as error:
            form.add_error(None, error)
    context = {
        "vault": vault,
        "tab": "configure",
        "section": "recovery",
        "form": form,
        "saved": saved,
        "locked_message": services.REDUNDANCY_LOCKED_MESSAGE,
        "chosen": _chosen(vault),
        **_safeguard_choices(),
    }
    return render(request, "vaults/configure.html", context)


def _chosen(vault: Vault, posted=None) -> dict:
    shown = {"soft_delete": vault.soft_delete, "soft_delete_days": vault.soft_delete_days}
    shown["immutability"] = vault.immutability
    if posted is not None:
        shown |= {name: posted[name] for name in shown if posted.get(name)}
    return shown


def _safeguard_choices() -> dict:
    return {
        "soft_delete_choices": Vault.SoftDelete.choices,
        "immutability_choices": Vault.Immutability.choices,
        "soft_delete_min": safeguards.MIN_DAYS,
        "soft_delete_max": safeguards.MAX_DAYS,
    }


@require_http_methods(["POST"])
@login_required
def security(request, pk: int):
    """The Security settings of CONFIGURE: soft delete (state, period) or immutability, through the safeguards."""
    vault = access.get_vault_for_user(request.user, pk)
    which = request.POST.get("form")

    def change() -> list[ValidationError]:
        try:
            if which == "soft_delete":
                safeguards.configure_soft_delete(
                    vault,
                    state=request.POST.get("soft_delete", ""),
                    days=request.POST.get("soft_delete_days", ""),
                    user=request.user,
                )
            elif which == "immutability":
                safeguards.set_immutability(vault, request.POST.get("immutability", ""), user=request.user)
            else:
                return [ValidationError("Choose the setting to change.")]
        except ValidationError as refused:
            return [refused]
        return []

    refused, approval = asking.in_dialog(request.POST, change)
    error = " ".join(m for e in refused for m in e.messages) or approval.get("error", "")
    vault.refresh_from_db()
    context = {
        "vault": vault,
        "tab": "configure",
        "section": "recovery",
        "saved": False,
        "form": RedundancyForm(initial={"redundancy": vault.redundancy}),
        "locked_message": services.REDUNDANCY_LOCKED_MESSAGE,
        "security_error": error,
        "security_saved": not error,
        "approval": approval,
        "approval_form": which,
        # Waiting for an approval, the form keeps what was asked for, so REQUEST APPROVAL sends it again.
        "chosen": _chosen(vault, request.POST if approval.get("ask") or approval.get("waiting") else None),
        **_safeguard_choices(),
    }
    return render(request, "vaults/configure.html", context)


@require_GET
@login_required
def coming_tab(request, pk: int, tab: str):
    """Tabs that later slices of the product fill in; until then they say so plainly."""
    return _vault_page(request, pk, tab, "vaults/coming_tab.html")
