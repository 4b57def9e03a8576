"""Vault > PROTECTED ITEMS and the PROTECT wizard (pick machines, then a policy)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling, trigger_client_event

from backup.jobs.models import Job, Operation
from backup.lists import Column, ListQuery
from backup.vaults.access import get_vault_for_user

from ..forms import PolicyForm
from ..services import policies, protection

COLUMNS = [
    Column("name", "NAME", "vm_name"),
    Column("cloud", "CLOUD SERVICE", "cloud_service_name"),
    Column("policy", "POLICY", "policy__name"),
    Column("status", "STATUS", "status"),
    Column("points", "RECOVERY POINTS", "point_count"),
    Column("newest", "NEWEST RECOVERY POINT", "newest_point"),
]
# The jobs that change a protected item's row: while one runs the table polls, and draws the end state once more.
ROW_OPERATIONS = (
    Operation.CONFIGURE_PROTECTION,
    Operation.STOP_PROTECTION,
    Operation.DELETE_BACKUP_DATA,
    Operation.BACKUP,
)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def protected_items(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    in_flight = list(
        Job.objects.active()
        .filter(vault_id=vault.pk, operation__in=ROW_OPERATIONS)
        .only("item_id", "operation", "status", "progress_percent")
    )
    pending = sum(job.operation == Operation.CONFIGURE_PROTECTION for job in in_flight)
    kind = request.GET.get("type", "")
    items = protection.protected_items(vault, kind=kind if kind in dict(protection.ITEM_TYPES) else "")
    listed = ListQuery(
        request.GET,
        COLUMNS,
        ["vm_name", "cloud_service_name", "policy__name"],
        extra_sort=["vm_name", "cloud_service_name"],
    ).context(items)
    rows = listed["page"].object_list = list(listed["rows"])
    by_vm = {job.item_id: job for job in in_flight if job.operation != Operation.CONFIGURE_PROTECTION}
    for item in rows:
        item.running_job = by_vm.get(item.vm_id)
    context = {
        "vault": vault,
        "tab": "protected",
        "section": "recovery",
        **listed,
        "rows": rows,
        "items": rows,
        "item_types": protection.ITEM_TYPES,
        "item_type": kind,
        "protectable_count": protection.protectable_items(vault).count(),
        "pending_jobs": pending,
        "polling": bool(in_flight),
    }
    if not request.htmx:
        return render(request, "vms/protected_list.html", context)
    response = render(request, "vms/partials/protected_table.html", context)
    if not in_flight:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_http_methods(["GET", "POST"])
@login_required
def protect(request, pk: int):
    """Page 1 (GET, or POST step=1 back): choose machines. Page 2 (POST step=2): choose a policy;
    POST step=3 submits."""
    vault = get_vault_for_user(request.user, pk)
    step = request.POST.get("step", "1")
    chosen = request.POST.getlist("vm")
    items = protection.protectable_items(vault)
    context = {"vault": vault, "items": items, "chosen": chosen, "error": ""}
    if request.method == "GET" or step == "1":
        return render(request, "vms/partials/protect_machines.html", context)
    chosen_items = list(items.filter(vm_id__in=[c for c in chosen if c.isdigit()]))
    if not chosen_items:
        context["error"] = "Choose at least one registered virtual machine to protect."
        return render(request, "vms/partials/protect_machines.html", context)
    mode = request.POST.get("mode", "existing")
    form = PolicyForm(request.POST if step == "3" and mode == "new" else None, prefix="new")
    context |= {
        "chosen_items": chosen_items,
        "policies": policies.described(vault.policies.all()),
        "mode": mode,
        "form": form,
        "policy_id": request.POST.get("policy", ""),
    }
    if step == "3":
        try:
            _submit(request, vault, chosen, mode, form)
        except ValidationError as exc:
            if mode == "new" and hasattr(exc, "error_dict") and "vm_ids" not in exc.error_dict:
                form.apply_error(exc)
            else:
                context["error"] = " ".join(exc.messages)
        else:
            url = reverse("vault-protected", args=[vault.pk])
            if request.htmx:
                return trigger_client_event(HttpResponseClientRedirect(url), "refresh-toasts")
            return redirect(url)
    return render(request, "vms/partials/protect_policy.html", context)


def _submit(request, vault, chosen, mode: str, form: PolicyForm) -> None:
    if mode == "new":
        if not form.is_valid():
            raise ValidationError({"name": "Correct the errors below."})
        protection.protect_with_new_policy(vault, chosen, form.data_for_service(), request.user)
        return
    policy = vault.policies.filter(pk=request.POST.get("policy") or 0).first()
    protection.start_protection(vault, chosen, policy, request.user)
