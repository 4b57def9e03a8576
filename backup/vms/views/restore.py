"""The RESTORE wizard ("Restore an Item"): 1. select a recovery point, 2. restore instance, then submit.

The wizard lives in #modal. Page 1 offers the newest point or a date picked on a month calendar (the
calendar and that day's points are one partial, #restore-calendar, fetched with htmx); page 2 is re-rendered
from the posted values whenever the cloud service changes (a cloud service bound to a virtual network fixes
the network). Submitting starts a Restore job and closes the dialog; the "Restore job created" toast follows.
"""

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from backup.vaults.access import get_vault_for_user

from ..models import ProtectedItem
from ..services import integrity, restore

FIELDS = (
    "vm_name",
    "cs_mode",
    "cloud_service",
    "new_cloud_service",
    "storage_account",
    "virtual_network",
    "subnet",
    "restore_from",
)


def _item(vault, data) -> ProtectedItem | None:
    ids = [v for v in data.getlist("item") if v.isdigit()]
    if len(ids) != 1:
        return None
    return vault.protected_items.select_related("vm__cloud_service", "policy").filter(pk=ids[0]).first()


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def _calendar_context(item, day: date | None, month: date | None, chosen: str = "", mode: str = "newest") -> dict:
    newest = restore.points_of(item).first()
    if day is None and newest is not None:
        day = timezone.localtime(newest.created_at).date()
    shown = month or day or timezone.localdate()
    return {
        "item": item,
        "month": restore.calendar_month(item, shown.year, shown.month, selected=day),
        "day": day,
        "day_points": restore.points_on(item, day) if day else [],
        "chosen_point": chosen,
        "newest_point": newest,
        "mode": "date" if mode == "date" else "newest",
    }


@require_http_methods(["GET", "POST"])
@login_required
def restore_wizard(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    data = request.POST if request.method == "POST" else request.GET
    item = _item(vault, data)
    context = {"vault": vault, "item": item}
    if item is None:
        context["error"] = "Select one protected item (tick its row) to restore."
        return render(request, "vms/restore/refused.html", context)
    if restore.is_multi_dc_controller(item.vm):
        context["error"] = restore.MULTI_DC_PORTAL
        context["multi_dc"] = True
        return render(request, "vms/restore/refused.html", context)
    if not restore.points_of(item).exists():
        context["error"] = f"'{item}' has no recovery points yet - Back it up first (BACK UP NOW)."
        return render(request, "vms/restore/refused.html", context)
    step = data.get("step", "1")
    mode = data.get("mode", "newest")
    context |= _calendar_context(item, _parse_day(data.get("day")), None, data.get("point", ""), mode)
    if request.method == "GET" or step == "1":
        return render(request, "vms/restore/select_point.html", context)
    point = _chosen_point(item, mode, data.get("point", ""))
    if point is None:
        context["error"] = "Choose a recovery point: click a shaded date, then a point in its table."
        return render(request, "vms/restore/select_point.html", context)
    context |= _instance_context(vault, item, point, data)
    if step == "3":
        try:
            restore.start_restore(point, user=request.user, **_service_arguments(context["values"]))
        except ValidationError as error:
            context["errors"] = error.message_dict
        else:
            if not request.htmx:
                return redirect("vault-protected", vault.pk)
            return trigger_client_event(HttpResponse(""), "refresh-toasts")
    return render(request, "vms/restore/instance.html", context)


def _chosen_point(item, mode: str, point_pk: str):
    if mode == "newest":
        return restore.points_of(item).first()
    return restore.points_of(item).filter(pk=point_pk).first() if point_pk.isdigit() else None


def _instance_context(vault, item, point, data) -> dict:
    values = {name: (data.get(name) or "").strip() for name in FIELDS}
    kvm = restore.is_kvm_point(point)
    values["start_vm"] = kvm and data.get("start_vm") == "on"
    primary_opens = restore.primary_store_opens(vault)
    secondary = restore.offers_secondary(point)
    if values["restore_from"] not in ("primary", "secondary") or (
        values["restore_from"] == "secondary" and not secondary
    ):
        # The primary by default; the secondary at once when the primary cannot be opened.
        values["restore_from"] = "secondary" if secondary and not primary_opens else "primary"
    from_secondary = values["restore_from"] == "secondary"
    services = list(restore.cloud_services_for(vault, kvm=kvm, from_secondary=from_secondary))
    if "vm_name" not in data and kvm:
        # A KVM machine runs on a host: its cloud service is the host's, never a new one.
        values |= {"vm_name": f"{item.vm_name}-r"[:15], "cs_mode": "existing"}
    elif "vm_name" not in data:
        # First arrival on page 2: a new cloud service named after the machine, as the product suggested.
        values |= {"vm_name": item.vm_name, "cs_mode": "new", "new_cloud_service": f"{item.vm_name}-restored".lower()}
    accounts = list(restore.storage_accounts_for(vault, kvm=kvm, from_secondary=from_secondary))
    if not values["storage_account"] and accounts:
        values["storage_account"] = accounts[0].name
    bound = None
    if values["cs_mode"] == "existing":
        bound = next((s for s in services if s.name == values["cloud_service"]), services[0] if services else None)
        values["cloud_service"] = bound.name if bound else ""
        if bound is not None and bound.virtual_network:
            values["virtual_network"] = bound.virtual_network
    networks = restore.virtual_networks_for(vault, from_secondary=from_secondary)
    subnets = networks.get(values["virtual_network"], [])
    if values["virtual_network"] and values["subnet"] not in subnets:
        values["subnet"] = subnets[0] if subnets else ""
    return {
        "point": point,
        "damage_message": integrity.damage_message(point) if point.is_damaged else "",
        "values": values,
        "cloud_services": services,
        "storage_accounts": accounts,
        "networks": networks,
        "subnets": subnets,
        "network_fixed": bool(bound and bound.virtual_network),
        "errors": {},
        "source": item.vm,
        "kvm": kvm,
        "region": restore.restore_region(vault, from_secondary),
        "offers_secondary": secondary,
        "primary_opens": primary_opens,
    }


def _service_arguments(values: dict) -> dict:
    new = values["cs_mode"] != "existing"
    return {
        "vm_name": values["vm_name"],
        "create_cloud_service": new,
        "cloud_service": values["new_cloud_service"] if new else values["cloud_service"],
        "storage_account": values["storage_account"],
        "virtual_network": values["virtual_network"],
        "subnet": values["subnet"],
        "start_vm": values["start_vm"],
        "from_secondary": values["restore_from"] == "secondary",
    }


@require_GET
@login_required
def restore_calendar(request, pk: int):
    """#restore-calendar: a month of the date picker and the chosen day's points."""
    vault = get_vault_for_user(request.user, pk)
    item = _item(vault, request.GET)
    if item is None:
        return HttpResponse("Select one protected item.", status=404)
    month = _parse_day(request.GET.get("month"))
    context = {
        "vault": vault,
        **_calendar_context(item, _parse_day(request.GET.get("day")), month, mode=request.GET.get("mode", "newest")),
    }
    return render(request, "vms/restore/partials/calendar.html", context)
