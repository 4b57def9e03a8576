"""VIRTUAL MACHINES, CLOUD SERVICES and STORAGE: the fabric's inventory, for the user's subscriptions."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backup.lists import Column, ListQuery

from ..services import inventory, kvm_registration

VM_COLUMNS = [
    Column("name", "NAME", "name"),
    Column("status", "STATUS", "power_state"),
    Column("cloud", "CLOUD SERVICE", "cloud_service__name"),
    Column("host", "RUNS ON", "host__name"),
    Column("location", "LOCATION", "cloud_service__region"),
    Column("os", "OPERATING SYSTEM", "os_version"),
    Column("size", "SIZE", "size"),
    Column("deployment", "DEPLOYMENT", "deployment_model"),
    Column("subscription", "SUBSCRIPTION", "subscription__name"),
    Column("backup", "BACKUP", "protected_in"),
]
CLOUD_COLUMNS = [
    Column("name", "NAME", "name"),
    Column("status", "STATUS", "host__status"),
    Column("location", "LOCATION", "region"),
    Column("vms", "VIRTUAL MACHINES", "vm_count"),
    Column("network", "VIRTUAL NETWORK", "virtual_network"),
    Column("subscription", "SUBSCRIPTION", "subscription__name"),
    Column("url", "URL", "dns_name"),
]
STORAGE_COLUMNS = [
    Column("name", "NAME", "name"),
    Column("location", "LOCATION", "region"),
    Column("replication", "REPLICATION", "kind"),
    Column("disks", "DISKS", "disk_count"),
    Column("subscription", "SUBSCRIPTION", "subscription__name"),
]


@require_GET
@login_required
def vm_list(request):
    query = ListQuery(
        request.GET,
        VM_COLUMNS,
        ["name", "cloud_service__name", "subscription__name"],
        extra_sort=["name", "cloud_service__name"],
    )
    context = query.context(inventory.machines_for(request.user))
    return render(request, "vms/vm_list.html", {**context, "machines": context["rows"], "section": "vms"})


@require_GET
@login_required
def vm_detail(request, pk: int):
    vm = inventory.machine_for(request.user, pk)
    context = {"vm": vm, "disks": vm.disks.all(), "notes": kvm_registration.notes(vm), "section": "vms"}
    return render(request, "vms/vm_detail.html", context)


@require_GET
@login_required
def cloud_service_list(request):
    query = ListQuery(request.GET, CLOUD_COLUMNS, ["name", "region", "subscription__name"], extra_sort=["name"])
    context = query.context(inventory.cloud_services_for(request.user))
    return render(request, "vms/cloud_service_list.html", {**context, "services": context["rows"], "section": "cloud"})


@require_GET
@login_required
def storage_list(request):
    query = ListQuery(request.GET, STORAGE_COLUMNS, ["name", "region", "subscription__name"], extra_sort=["name"])
    context = query.context(inventory.storage_accounts_query(request.user))
    inventory.count_used_bytes(context["rows"])
    return render(request, "vms/storage_list.html", {**context, "accounts": context["rows"], "section": "storage"})
