from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from backup.tenancy.access import subscriptions_for
from backup.vaults.models import Vault


@require_GET
def home(request):
    """ALL ITEMS: everything the user can reach, across their subscriptions."""
    vaults = Vault.objects.for_user(request.user).select_related("subscription")
    context = {"vaults": vaults, "subscriptions": subscriptions_for(request.user), "section": "all"}
    return render(request, "portal/home.html", context)


@require_GET
def new_menu(request):
    """The + NEW drawer, one level at a time, as the classic portal walked it."""
    level = request.GET.get("level", "root")
    return render(request, "portal/partials/new_menu.html", {"level": level})


@require_GET
def favicon(request):
    """Pages name their icon; this answers the browsers (and the admin) that ask for /favicon.ico anyway."""
    return redirect(static("portal/favicon.svg"), permanent=True)


@require_GET
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
