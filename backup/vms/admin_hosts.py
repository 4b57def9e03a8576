"""KVM hosts in the admin: adding one goes through the hosts service (its checks answer on the fields), the list
says how each host is doing, and operators sync or remove hosts with actions."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count

from backup.jobs.admin import OperateActionsMixin

from .models import HypervisorHost
from .services import hosts


class HostAddForm(forms.ModelForm):
    class Meta:
        model = HypervisorHost
        fields = ["subscription", "name", "uri", "region", "storage_pool"]

    def _post_clean(self) -> None:
        # The service is the validation: it connects to the host, checks the pool and creates the rows, so a
        # failure lands on its field and success leaves nothing for save() but the host it made.
        if self.errors:
            return
        data = self.cleaned_data
        try:
            self.instance = hosts.add_host(
                data["subscription"], data["name"], data["uri"], data["region"], data["storage_pool"]
            )
        except ValidationError as error:
            self.add_error(None, error)


@admin.register(HypervisorHost)
class HypervisorHostAdmin(OperateActionsMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "subscription",
        "uri",
        "region",
        "storage_pool",
        "status",
        "last_synced_at",
        "vm_count",
        "last_error",
    ]
    list_filter = ["status", "region"]
    search_fields = ["name", "uri"]
    list_select_related = ["subscription"]
    actions = ["sync_now", "remove_hosts"]
    add_form = HostAddForm

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(vm_count=Count("virtual_machines"))

    @admin.display(description="virtual machines", ordering="vm_count")
    def vm_count(self, host: HypervisorHost) -> int:
        return host.vm_count

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # A host's address and pool are what its machines and their restores rely on: remove and add it again.
        return [f.name for f in HypervisorHost._meta.fields]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
        # Added: the form's service call saved it already.

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the remove action checks what the service checks (no protected machines)

    @admin.action(description="Sync now: list the selected hosts' domains again", permissions=["operate"])
    def sync_now(self, request, queryset) -> None:
        for host in queryset:
            result = hosts.sync_host(host)
            if result.ok:
                self.message_user(request, f"Host {host.name}: {result.summary}", messages.SUCCESS)
            else:
                self.message_user(request, f"Host {host.name}: {result.error}", messages.ERROR)

    @admin.action(
        description="Remove the selected hosts (refused while their machines are protected)", permissions=["operate"]
    )
    def remove_hosts(self, request, queryset) -> None:
        for host in queryset:
            try:
                hosts.remove_host(host)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                self.message_user(request, f"Host {host.name} removed.", messages.SUCCESS)
