from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from backup.jobs.admin import OperateActionsMixin, ReadOnlyAdminMixin

from . import services
from .models import DrillPlan, DrillResult


class DrillPlanForm(forms.ModelForm):
    class Meta:
        model = DrillPlan
        fields = [
            "vault",
            "name",
            "enabled",
            "every_hours",
            "items",
            "point_choice",
            "within_days",
            "sandbox_account",
            "check_kind",
            "boot_check",
        ]

    def clean(self):
        data = super().clean()
        vault, account = data.get("vault"), data.get("sandbox_account")
        if vault is not None and account is not None and account.subscription_id != vault.subscription_id:
            self.add_error("sandbox_account", "The sandbox storage account must be of the vault's subscription.")
        foreign = [str(i) for i in data.get("items") or [] if vault is not None and i.vault_id != vault.pk]
        if foreign:
            self.add_error("items", f"Not protected in this vault: {', '.join(foreign)}.")
        if data.get("every_hours") == 0:
            self.add_error("every_hours", "At least one hour.")
        return data


@admin.register(DrillPlan)
class DrillPlanAdmin(OperateActionsMixin, admin.ModelAdmin):
    form = DrillPlanForm
    list_display = ("name", "vault", "enabled", "every_hours", "point_choice", "sandbox_account", "boot_check")
    list_filter = ("enabled", "point_choice")
    filter_horizontal = ("items",)
    actions = ["run_now"]

    @admin.action(description="Run the drill now", permissions=["operate"])
    def run_now(self, request, queryset) -> None:
        for plan in queryset.select_related("vault__subscription", "sandbox_account"):
            try:
                job = services.start_drill(plan, user=request.user)
            except ValidationError as refusal:
                self.message_user(request, " ".join(refusal.messages), messages.ERROR)
            else:
                self.message_user(request, f"Restore Drill job #{job.pk} started for '{plan}'.", messages.SUCCESS)


@admin.register(DrillResult)
class DrillResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "vm_name",
        "plan",
        "status",
        "restore_seconds",
        "chunks_checked",
        "boot_result",
        "job_id",
        "created_at",
    )
    list_filter = ("status", "plan")
    search_fields = ("vm_name", "point_id", "message")
