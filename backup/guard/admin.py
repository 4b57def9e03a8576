"""The guards are the superusers' to set up; requests and the audit log are read-only for everyone (a vault's
operators hold every permission of the project's apps, so only no admin edit at all keeps the log honest)."""

from django import forms
from django.contrib import admin

from backup.tenancy.models import Membership

from .models import ApprovalRequest, AuditEvent, GuardedOperation, ResourceGuard

MEMBERS_IN_ROLE = (
    "The security role must be separate from the subscription's own users: {names} {verb} members of '{subscription}'."
)


class ResourceGuardForm(forms.ModelForm):
    operations = forms.MultipleChoiceField(choices=GuardedOperation.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ResourceGuard
        fields = ["name", "subscription", "security_group", "operations"]

    def clean(self):
        cleaned = super().clean()
        group, subscription = cleaned.get("security_group"), cleaned.get("subscription")
        if group and subscription:
            names = sorted(
                Membership.objects.filter(subscription=subscription, user__groups=group).values_list(
                    "user__username", flat=True
                )
            )
            if names:
                raise forms.ValidationError(
                    MEMBERS_IN_ROLE.format(
                        names=", ".join(names), verb="is" if len(names) == 1 else "are", subscription=subscription
                    )
                )
        return cleaned


class SuperusersOnly:
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and (obj is None or not obj.requests.exists())


class ReadOnly:
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser or request.user.has_perm(f"guard.view_{self.model._meta.model_name}")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ResourceGuard)
class ResourceGuardAdmin(SuperusersOnly, admin.ModelAdmin):
    form = ResourceGuardForm
    list_display = ("name", "subscription", "security_group", "created_at")
    list_select_related = ("subscription", "security_group")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "operation",
        "target_name",
        "requested_by",
        "requested_at",
        "status",
        "decided_by",
        "expires_at",
        "used_at",
    )
    list_filter = ("status", "operation")
    search_fields = ("target", "target_name", "requested_by__username")
    list_select_related = ("requested_by", "decided_by")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("at", "kind", "operation", "target", "actor", "request", "detail")
    list_filter = ("kind", "operation")
    search_fields = ("target", "detail", "actor__username")
    date_hierarchy = "at"
    list_select_related = ("actor", "request")
