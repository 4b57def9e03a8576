"""Dialogs that manage protection and the vault: STOP PROTECTION and DELETE (backup data) on PROTECTED ITEMS,
UNREGISTER on REGISTERED ITEMS, DELETE on the DASHBOARD. Each starts jobs through the manage service, then
reloads the tab; the jobs' toasts tell the rest."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from backup.jobs import asking
from backup.vaults.access import get_vault_for_user

from ..models import ProtectedItem
from ..services import manage

REASONS = ["", "Decommissioned", "Moved to another backup vault", "Not needed any more", "Other"]


def _done(request, url: str):
    if request.htmx:
        return trigger_client_event(HttpResponseClientRedirect(url), "refresh-toasts")
    return redirect(url)


def _ticked(vault, data) -> list[ProtectedItem]:
    ids = [v for v in data.getlist("item") if v.isdigit()]
    return list(vault.protected_items.filter(pk__in=ids).select_related("vault__subscription", "policy"))


def _refusals(items, start) -> list[ValidationError]:
    """Run `start(item)` for each item; the refusals, each prefixed with its item's name."""
    refused = []
    for item in items:
        try:
            start(item)
        except ValidationError as error:
            error.item_name = item.vm_name
            refused.append(error)
    return refused


def _lines(refusals: list[ValidationError]) -> str:
    return " ".join(f"{e.item_name}: {' '.join(e.messages)}" for e in refusals)


def _start_each(items, start) -> list[str]:
    """Run `start(item)` for each item; the refusals, as "name: message" lines."""
    refused = _refusals(items, start)
    return [_lines([e]) for e in refused]


def _start_asking(data, items, start) -> tuple[str, dict]:
    """`_start_each` for an operation a resource guard may protect: the refusals, and the approval box."""
    refused, approval = asking.in_dialog(data, lambda: _refusals(items, start))
    return _lines(refused), approval


@require_http_methods(["GET", "POST"])
@login_required
def stop_protection(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    data = request.POST if request.method == "POST" else request.GET
    items = _ticked(vault, data)
    context = {
        "vault": vault,
        "items": items,
        "reasons": REASONS,
        "error": "",
        "delete_data": data.get("delete_data") == "on",
        "reason": data.get("reason", ""),
        "comment": data.get("comment", ""),
    }
    if not items:
        context["error"] = "Select the protected items whose protection you want to stop (tick their rows)."
    elif request.method == "POST":
        refused, context["approval"] = _start_asking(
            data,
            items,
            lambda item: manage.stop_protection(
                item,
                user=request.user,
                delete_data=context["delete_data"],
                reason=context["reason"],
                comment=context["comment"],
            ),
        )
        if not refused and not context["approval"].get("error"):
            return _done(request, reverse("vault-protected", args=[vault.pk]))
        context["error"] = refused
    return render(request, "vms/partials/stop_protection.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def delete_backup_data(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    data = request.POST if request.method == "POST" else request.GET
    items = _ticked(vault, data)
    context = {
        "vault": vault,
        "items": items,
        "reasons": REASONS,
        "error": "",
        "reason": data.get("reason", ""),
        "comment": data.get("comment", ""),
    }
    running = [i.vm_name for i in items if i.status != ProtectedItem.Status.STOPPED]
    context["can_delete"] = bool(items) and not running
    if not items:
        context["error"] = "Select the protected items whose backup data you want to delete (tick their rows)."
    elif running:
        context["error"] = (
            f"Only the backup data of items whose protection is stopped can be deleted; still "
            f"protected: {', '.join(running)}. Use STOP PROTECTION with 'Delete associated backup "
            "data' for them."
        )
    elif request.method == "POST":
        refused, context["approval"] = _start_asking(
            data,
            items,
            lambda item: manage.delete_backup_data(
                item, user=request.user, reason=context["reason"], comment=context["comment"]
            ),
        )
        if not refused and not context["approval"].get("error"):
            return _done(request, reverse("vault-protected", args=[vault.pk]))
        context["error"] = refused
    return render(request, "vms/partials/delete_backup_data.html", context)


@require_http_methods(["POST"])
@login_required
def undelete(request, pk: int):
    """UNDELETE on PROTECTED ITEMS: the ticked soft-deleted items are "Protection stopped" again."""
    vault = get_vault_for_user(request.user, pk)
    items = _ticked(vault, request.POST)
    error = "Select the soft-deleted items to undelete (tick their rows)." if not items else ""
    if items:
        error = " ".join(_start_each(items, lambda item: manage.undelete(item, user=request.user)))
        if not error:
            return _done(request, reverse("vault-protected", args=[vault.pk]))
    return render(request, "vms/partials/undelete.html", {"vault": vault, "error": error})


@require_http_methods(["GET", "POST"])
@login_required
def unregister(request, pk: int):
    """Page 1: tick registered items (those ticked on the tab come ticked). POST without confirm: one
    "Are you sure?" listing them all. POST confirm=yes: one Unregister job per item."""
    vault = get_vault_for_user(request.user, pk)
    choices = manage.unregistrable_items(vault)
    data = request.POST if request.method == "POST" else request.GET
    ticked = set(data.getlist("registered_item"))
    chosen = [(item, problem) for item, problem in choices if str(item.pk) in ticked]
    context = {
        "vault": vault,
        "choices": choices,
        "chosen": [item for item, _ in chosen],
        "ticked": {item.pk for item, _ in chosen},
        "error": "",
    }
    if request.method == "POST":
        problems = [f"{item.vm_name}: {problem}" for item, problem in chosen if problem]
        if not chosen:
            context["error"] = "Choose the registered item to unregister."
        elif problems:
            context["error"] = " ".join(problems) if len(chosen) > 1 else chosen[0][1]
        elif request.POST.get("confirm") == "yes":
            refused = _start_each_registered(context["chosen"], request.user)
            if not refused:
                return _done(request, reverse("vault-registered", args=[vault.pk]))
            context["error"] = " ".join(refused)
        else:
            return render(request, "vms/partials/unregister_confirm.html", context)
    return render(request, "vms/partials/unregister.html", context)


def _start_each_registered(items, user) -> list[str]:
    refused = []
    for item in items:
        try:
            manage.start_unregister(item, user=user)
        except ValidationError as error:
            message = " ".join(error.messages)
            refused.append(f"{item.vm_name}: {message}" if len(items) > 1 else message)
    return refused


@require_http_methods(["GET", "POST"])
@login_required
def delete_vault(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    context = {
        "vault": vault,
        "problem": manage.vault_deletion_problem(vault),
        "reasons": REASONS,
        "error": "",
        "reason": request.POST.get("reason", ""),
    }
    if request.method == "POST" and not context["problem"]:

        def delete() -> list[ValidationError]:
            try:
                manage.start_delete_vault(vault, user=request.user, reason=context["reason"])
            except ValidationError as error:
                return [error]
            return []

        refused, context["approval"] = asking.in_dialog(request.POST, delete)
        if not refused and not context["approval"].get("error"):
            return _done(request, reverse("vault-list"))
        context["error"] = " ".join(m for e in refused for m in e.messages)
    return render(request, "vms/partials/delete_vault.html", context)
