from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from . import services
from .models import Notification

TOASTS_SHOWN = 2


def _render_toasts(request):
    # Two cards at most: under the top bar they stay clear of a vault's tabs, the content and its error texts; the
    # notifications panel keeps the rest.
    notes = Notification.objects.for_user(request.user).for_toasts()[:TOASTS_SHOWN]
    return render(request, "notifications/partials/toasts.html", {"toasts": notes})


@require_GET
@login_required
def toasts(request):
    return _render_toasts(request)


@require_GET
@login_required
def panel(request):
    notes = list(Notification.objects.for_user(request.user)[:50])
    services.mark_all_read(request.user)
    return render(request, "notifications/partials/panel.html", {"notifications": notes})


@require_POST
@login_required
def dismiss(request, pk: int):
    if not services.dismiss(request.user, pk):
        raise Http404("No such notification.")
    return _render_toasts(request)
