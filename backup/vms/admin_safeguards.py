"""The admin goes through the same services as the portal: deleting a vault, a protected item or a
registration runs the portal's own operation (so soft delete and immutability apply), the safeguard settings
change only through actions that call backup.vaults.safeguards, and a policy edit that keeps less is refused
on an immutable vault. Nothing here deletes a row by itself."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse

from backup.jobs.admin import report_started
from backup.jobs.errors import Refused
from backup.vaults import safeguards
from backup.vaults.models import Vault

from .admin_operations import VaultOperationsAdmin
from .models import BackupPolicy
from .services import manage, reductions


def _each(objects, call) -> tuple[list, list[str]]:
    done, refused = [], []
    for obj in objects:
        try:
            done.append(call(obj))
        except ValidationError as error:
            refused.append(f"{obj}: {' '.join(error.messages)}")
    return done, refused


class DeleteThroughServiceMixin:
    """Delete (the object's page, and the bulk action, which is replaced) calls `delete_through_service`,
    which starts the portal's operation or refuses with its message; no row is deleted by the admin itself."""

    delete_verb = "Delete"

    def delete_through_service(self, request, obj):
        raise NotImplementedError

    def get_actions(self, request):
        actions = super().get_actions(request)  # type: ignore[misc]
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj) -> None:
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset) -> None:
        started, refused = _each(queryset, lambda obj: self.delete_through_service(request, obj))
        jobs = [job for job in started if getattr(job, "is_active", False)]
        refused += [
            f"job #{job.pk} failed at once - {job.error_message}"
            for job in started
            if hasattr(job, "is_active") and not job.is_active
        ]
        report_started(self, request, jobs, refused, self.delete_verb)

    def delete_view(self, request, object_id, extra_context=None):
        if request.method != "POST":
            return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is None or not self.has_delete_permission(request, obj):  # type: ignore[attr-defined]
            return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]
        self.delete_model(request, obj)
        opts = self.model._meta  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))


class SafeguardedVaultAdmin(DeleteThroughServiceMixin, VaultOperationsAdmin):
    delete_verb = "Delete vault"
    readonly_fields = ("soft_delete", "soft_delete_days", "immutability")
    actions = VaultOperationsAdmin.actions + [
        "turn_soft_delete_off",
        "turn_soft_delete_on",
        "make_soft_delete_always_on",
        "enable_immutability",
        "disable_immutability",
        "lock_immutability",
    ]

    def delete_through_service(self, request, vault):
        return manage.start_delete_vault(vault, user=request.user)

    def _apply(self, request, queryset, call, verb: str) -> None:
        done, refused = _each(queryset, call)
        if done:
            self.message_user(request, f"{verb}: {', '.join(v.name for v in done)}.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)

    @admin.action(description="Soft delete: turn off (a critical operation)", permissions=["operate"])
    def turn_soft_delete_off(self, request, queryset) -> None:
        self._apply(request, queryset, lambda v: safeguards.disable_soft_delete(v, request.user), "Soft delete off")

    @admin.action(description="Soft delete: turn on", permissions=["operate"])
    def turn_soft_delete_on(self, request, queryset) -> None:
        self._apply(
            request,
            queryset,
            lambda v: safeguards.configure_soft_delete(v, state=Vault.SoftDelete.ENABLED, user=request.user),
            "Soft delete on",
        )

    @admin.action(description="Soft delete: make always on (irreversible)", permissions=["operate"])
    def make_soft_delete_always_on(self, request, queryset) -> None:
        self._apply(
            request,
            queryset,
            lambda v: safeguards.configure_soft_delete(v, state=Vault.SoftDelete.ALWAYS_ON, user=request.user),
            "Soft delete always on",
        )

    @admin.action(description="Immutability: enable", permissions=["operate"])
    def enable_immutability(self, request, queryset) -> None:
        self._apply(
            request,
            queryset,
            lambda v: safeguards.set_immutability(v, Vault.Immutability.ENABLED, request.user),
            "Immutability enabled",
        )

    @admin.action(description="Immutability: disable (a critical operation)", permissions=["operate"])
    def disable_immutability(self, request, queryset) -> None:
        self._apply(
            request,
            queryset,
            lambda v: safeguards.set_immutability(v, Vault.Immutability.DISABLED, request.user),
            "Immutability disabled",
        )

    @admin.action(description="Immutability: lock (irreversible)", permissions=["operate"])
    def lock_immutability(self, request, queryset) -> None:
        self._apply(
            request,
            queryset,
            lambda v: safeguards.set_immutability(v, Vault.Immutability.LOCKED, request.user),
            "Immutability locked",
        )


class ProtectedItemSafeguards(DeleteThroughServiceMixin):
    """Deleting a protected item deletes its backup data the portal's way (soft deleted when the vault says
    so); its state, policy and purge date are changed only by the portal's operations."""

    delete_verb = "Delete backup data"
    readonly_fields = ("status", "policy", "soft_deleted_at", "purge_at", "stopped_at")

    def delete_through_service(self, request, item):
        return manage.stop_protection(item, user=request.user, delete_data=True)

    @admin.action(description="Delete the backup data (soft delete when the vault has it on)", permissions=["operate"])
    def delete_backup_data(self, request, queryset) -> None:
        self.delete_queryset(request, queryset.select_related("vault__subscription"))

    @admin.action(description="Undelete (back to Protection stopped)", permissions=["operate"])
    def undelete(self, request, queryset) -> None:
        done, refused = _each(queryset.select_related("vault"), lambda i: manage.undelete(i, user=request.user))
        if done:
            self.message_user(request, f"Undeleted: {', '.join(i.vm_name for i in done)}.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)


class RegisteredItemSafeguards(DeleteThroughServiceMixin):
    delete_verb = "Unregister"

    def delete_through_service(self, request, item):
        return manage.start_unregister(item, user=request.user)


class PolicyAdminForm(forms.ModelForm):
    class Meta:
        model = BackupPolicy
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None:
            try:
                reductions.refuse_policy_change(BackupPolicy.objects.get(pk=self.instance.pk), cleaned)
            except Refused as refusal:
                raise ValidationError(refusal.message) from None
        return cleaned


admin.site.unregister(Vault)
admin.site.register(Vault, SafeguardedVaultAdmin)
