from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from backup.jobs.admin import OperateActionsMixin, ReadOnlyAdminMixin

from . import admin_hosts  # noqa: F401  (registers the KVM hosts' admin)
from .admin_operations import back_up_now, verify_points
from .admin_safeguards import PolicyAdminForm, ProtectedItemSafeguards, RegisteredItemSafeguards
from .models import (
    BackupPolicy,
    CloudService,
    ProtectedItem,
    RecoveryPoint,
    RegisteredItem,
    SecondaryDeletion,
    StorageAccount,
    VirtualDisk,
    VirtualMachine,
)
from .services import policies


@admin.register(StorageAccount)
class StorageAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "subscription", "region", "kind", "created_at"]
    list_filter = ["region", "kind"]
    search_fields = ["name"]
    date_hierarchy = "created_at"


@admin.register(CloudService)
class CloudServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "subscription", "region", "virtual_network", "created_at"]
    list_filter = ["region"]
    search_fields = ["name"]
    date_hierarchy = "created_at"


class VirtualDiskInline(admin.TabularInline):
    model = VirtualDisk
    extra = 0
    fields = [
        "kind",
        "lun",
        "storage_account",
        "max_size",
        "target",
        "disk_format",
        "allocation",
        "trackable",
        "source_path",
    ]


@admin.register(VirtualMachine)
class VirtualMachineAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "cloud_service",
        "host",
        "subscription",
        "deployment_model",
        "os_version",
        "power_state",
        "agent_installed",
        "agent_state",
        "backup_extension_installed",
        "size",
    ]
    list_filter = ["deployment_model", "os_family", "power_state", "agent_installed", "cloud_service__region", "host"]
    search_fields = ["name", "cloud_service__name"]
    date_hierarchy = "created_at"
    inlines = [VirtualDiskInline]


class BackupPolicyAdminForm(PolicyAdminForm):
    """A change that keeps less is refused on an immutable vault (PolicyAdminForm), and goes through the
    resource guard, like the portal's and the API's."""

    user = None

    def clean(self):
        cleaned = super().clean()  # an immutable vault refuses first
        if self.instance.pk is not None and not self.errors:
            try:
                policies.require_approval_to_keep_less(
                    BackupPolicy.objects.get(pk=self.instance.pk), cleaned, self.user
                )
            except ValidationError as error:
                raise forms.ValidationError(error.messages) from None
        return cleaned


@admin.register(BackupPolicy)
class BackupPolicyAdmin(admin.ModelAdmin):
    form = BackupPolicyAdminForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    list_display = ["name", "vault", "frequency", "time_of_day", "timezone", "retention"]
    list_filter = ["frequency"]
    search_fields = ["name", "vault__name"]
    date_hierarchy = "created_at"

    @admin.display(description="retention range")
    def retention(self, policy: BackupPolicy) -> str:
        return "; ".join(policies.describe_retention(policy))


@admin.register(RegisteredItem)
class RegisteredItemAdmin(RegisteredItemSafeguards, admin.ModelAdmin):
    list_display = ["vm_name", "cloud_service_name", "vault", "status", "discovered_at", "registered_at"]
    list_filter = ["status"]
    search_fields = ["vm_name", "cloud_service_name", "vault__name"]
    date_hierarchy = "discovered_at"


@admin.register(ProtectedItem)
class ProtectedItemAdmin(ProtectedItemSafeguards, OperateActionsMixin, admin.ModelAdmin):
    list_display = [
        "vm_name",
        "cloud_service_name",
        "vault",
        "policy",
        "status",
        "purge_at",
        "protected_at",
        "last_backup_at",
    ]
    list_filter = ["status", "vault__subscription"]
    search_fields = ["vm_name", "cloud_service_name", "vault__name"]
    date_hierarchy = "protected_at"
    list_select_related = ["vault", "policy"]
    actions = [back_up_now, "delete_backup_data", "undelete"]


@admin.register(RecoveryPoint)
class RecoveryPointAdmin(OperateActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "vm_name",
        "vault",
        "point_id",
        "created_at",
        "consistency",
        "bytes_transferred",
        "on_demand",
        "verify_state",
        "verified_at",
        "damaged_at",
        "replicated_at",
    ]
    list_filter = [
        "consistency",
        "verify_state",
        "on_demand",
        ("damaged_at", admin.EmptyFieldListFilter),
        "vault__subscription",
    ]
    search_fields = ["vm_name", "point_id"]
    date_hierarchy = "created_at"
    list_select_related = ["vault"]
    actions = [verify_points]


@admin.register(SecondaryDeletion)
class SecondaryDeletionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Points deleted in a geo-redundant vault's primary copy, waiting to be deleted in its secondary."""

    list_display = ["point_id", "vault", "requested_at", "due_at", "done_at"]
    list_filter = [("done_at", admin.EmptyFieldListFilter)]
    search_fields = ["point_id", "vault__name"]
