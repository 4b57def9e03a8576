"""Vault > REGISTERED ITEMS: the list, DISCOVER and the REGISTER pop-up."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling, trigger_client_event

from backup.jobs.models import Job, Operation
from backup.lists import Column, ListQuery
from backup.vaults.access import get_vault_for_user

from ..models import RegisteredItem
from ..services import discovery, registration

COLUMNS = [
    Column("name", "NAME", "vm_name"),
    Column("cloud", "CLOUD SERVICE", "cloud_service_name"),
    Column("status", "STATUS", "status"),
    Column("registered", "REGISTERED", "registered_at"),
]
# A row polls while its item's job runs, and follows it to its end.
IN_FLIGHT = (RegisteredItem.Status.REGISTERING, RegisteredItem.Status.UNREGISTERING)


def _discovery_context(vault) -> dict:
    running = Job.objects.active().filter(vault_id=vault.pk, operation=Operation.DISCOVERY).exists()
    last = Job.objects.filter(vault_id=vault.pk, operation=Operation.DISCOVERY).first()
    discovered = registration.registrable_items(vault).count()
    return {"discovery_running": running, "last_discovery": last, "discovered_count": discovered}


@require_GET
@login_required
@vary_on_headers("HX-Request")
def registered_items(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    items = vault.registered_items.exclude(status=RegisteredItem.Status.NOT_REGISTERED).select_related("vm")
    listed = ListQuery(
        request.GET, COLUMNS, ["vm_name", "cloud_service_name"], extra_sort=["vm_name", "cloud_service_name"]
    ).context(items)
    context = {
        "vault": vault,
        "tab": "registered",
        "section": "recovery",
        **listed,
        "items": listed["rows"],
        **_discovery_context(vault),
    }
    return render(request, "vms/registered_list.html", context)


@require_GET
@login_required
def registered_row(request, pk: int, item_pk: int):
    vault = get_vault_for_user(request.user, pk)
    item = vault.registered_items.exclude(status=RegisteredItem.Status.NOT_REGISTERED).filter(pk=item_pk).first()
    if item is None:  # unregistered: its row leaves the list
        return HttpResponse(status=HttpResponseStopPolling.status_code)
    response = render(request, "vms/partials/registered_row.html", {"vault": vault, "item": item})
    if item.status not in IN_FLIGHT:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_GET
@login_required
def discovery_status(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    context = {"vault": vault, **_discovery_context(vault)}
    response = render(request, "vms/partials/discovery_status.html", context)
    if not context["discovery_running"]:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_POST
@login_required
def discover(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    error = ""
    try:
        discovery.start_discovery(vault, request.user)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if not request.htmx:
        return redirect("vault-registered", vault.pk)
    context = {"vault": vault, "discovery_error": error, **_discovery_context(vault)}
    return trigger_client_event(render(request, "vms/partials/discovery_status.html", context), "refresh-toasts")


@require_http_methods(["GET", "POST"])
@login_required
def register(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    error = ""
    chosen = request.POST.getlist("vm")
    if request.method == "POST":
        try:
            registration.start_registration(vault, chosen, request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            url = reverse("vault-registered", args=[vault.pk])
            if request.htmx:
                return trigger_client_event(HttpResponseClientRedirect(url), "refresh-toasts")
            return redirect(url)
    context = {"vault": vault, "items": registration.registrable_items(vault), "error": error, "chosen": chosen}
    return render(request, "vms/partials/register_modal.html", context)
