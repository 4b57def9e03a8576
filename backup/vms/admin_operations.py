"""Operators' admin actions on vaults, protected items and recovery points. Each action starts jobs
(run by a worker once the request's transaction commits), never does the work in the request.

The Vault admin is registered by the vaults app, which may not import vms (apps are layered), so its
verify and garbage-collection actions are added here by registering an extended Vault admin.
"""

from django.contrib import admin
from django.core.exceptions import ValidationError

from backup.jobs.admin import OperateActionsMixin, report_started
from backup.jobs.errors import Refused
from backup.vaults.admin import VaultAdmin
from backup.vaults.models import Vault

from .services import backup, manage, operations


def _start_each(objects, start) -> tuple[list, list[str]]:
    started, refused = [], []
    for obj in objects:
        try:
            job = start(obj)
        except Refused as refusal:
            refused.append(f"{obj}: {refusal.message}")
            continue
        except ValidationError as error:
            refused.append(f"{obj}: {' '.join(error.messages)}")
            continue
        if job.is_active:
            started.append(job)
        else:
            # Another operation holds the item: the job was recorded Failed with the product's message.
            refused.append(f"{obj}: job #{job.pk} failed at once - {job.error_message}")
    return started, refused


@admin.action(description="Run a backup now", permissions=["operate"])
def back_up_now(modeladmin, request, queryset) -> None:
    items = queryset.select_related("vault__subscription")
    started, refused = _start_each(items, lambda item: backup.back_up_now(item, request.user))
    report_started(modeladmin, request, started, refused, "Backup")


@admin.action(description="Verify the selected recovery points", permissions=["operate"])
def verify_points(modeladmin, request, queryset) -> None:
    points = queryset.select_related("vault__subscription")
    started, refused = _start_each(points, lambda p: operations.start_verify(p.vault, user=request.user, point=p))
    report_started(modeladmin, request, started, refused, "Verify")


class VaultOperationsAdmin(OperateActionsMixin, VaultAdmin):
    # Deleting goes through the portal's services (a resource guard may need an approval; the requester's
    # approved request is used): this action, and the delete pages of admin_safeguards.SafeguardedVaultAdmin.
    actions = [
        "verify_vaults",
        "verify_new_points",
        "reverify_old_points",
        "collect_garbage",
        "create_secondary",
        "delete_vaults",
    ]

    @admin.action(description="Delete the selected vaults (a Delete Vault job each)", permissions=["operate"])
    def delete_vaults(self, request, queryset) -> None:
        vaults = queryset.select_related("subscription")
        started, refused = _start_each(vaults, lambda v: manage.start_delete_vault(v, user=request.user))
        report_started(self, request, started, refused, "Delete vault")

    @admin.action(description="Verify the backup data of the selected vaults", permissions=["operate"])
    def verify_vaults(self, request, queryset) -> None:
        vaults = queryset.select_related("subscription")
        started, refused = _start_each(vaults, lambda v: operations.start_verify(v, user=request.user))
        report_started(self, request, started, refused, "Verify")

    @admin.action(
        description="Verify the new recovery points of the selected vaults now (the daily run)", permissions=["operate"]
    )
    def verify_new_points(self, request, queryset) -> None:
        vaults = queryset.select_related("subscription")
        started, refused = _start_each(
            vaults, lambda v: operations.start_due_verify(v, operations.SCOPE_NEW, user=request.user)
        )
        report_started(self, request, started, refused, "Verify")

    @admin.action(
        description="Re-verify the old recovery points of the selected vaults now (the weekly run)",
        permissions=["operate"],
    )
    def reverify_old_points(self, request, queryset) -> None:
        vaults = queryset.select_related("subscription")
        started, refused = _start_each(
            vaults, lambda v: operations.start_due_verify(v, operations.SCOPE_OLD, user=request.user)
        )
        report_started(self, request, started, refused, "Verify")

    @admin.action(description="Run garbage collection on the selected vaults", permissions=["operate"])
    def collect_garbage(self, request, queryset) -> None:
        vaults = queryset.select_related("subscription")
        started, refused = _start_each(vaults, lambda v: operations.start_gc_now(v, user=request.user))
        report_started(self, request, started, refused, "Garbage collection")


admin.site.unregister(Vault)
admin.site.register(Vault, VaultOperationsAdmin)
