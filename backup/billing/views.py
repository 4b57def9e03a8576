from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def billing(request):
    return render(request, "portal/coming.html", {"section": "billing", "title": "Billing"})
