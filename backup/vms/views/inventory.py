from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def vm_list(request):
    return render(request, "portal/coming.html", {"section": "vms", "title": "Virtual machines"})


@require_GET
def cloud_service_list(request):
    return render(request, "portal/coming.html", {"section": "cloud", "title": "Cloud services"})


@require_GET
def storage_list(request):
    return render(request, "portal/coming.html", {"section": "storage", "title": "Storage"})
