"""VIRTUAL MACHINES, CLOUD SERVICES and STORAGE: the fabric's inventory, for the user's subscriptions."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..services import inventory, kvm_registration


@require_GET
@login_required
def vm_list(request):
    machines = inventory.machines_for(request.user)
    return render(request, "vms/vm_list.html", {"machines": machines, "section": "vms"})


@require_GET
@login_required
def vm_detail(request, pk: int):
    vm = inventory.machine_for(request.user, pk)
    context = {"vm": vm, "disks": vm.disks.all(), "notes": kvm_registration.notes(vm), "section": "vms"}
    return render(request, "vms/vm_detail.html", context)


@require_GET
@login_required
def cloud_service_list(request):
    services = inventory.cloud_services_for(request.user)
    return render(request, "vms/cloud_service_list.html", {"services": services, "section": "cloud"})


@require_GET
@login_required
def storage_list(request):
    accounts = inventory.storage_accounts_for(request.user)
    return render(request, "vms/storage_list.html", {"accounts": accounts, "section": "storage"})
