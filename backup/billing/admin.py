from django.contrib import admin, messages
from django.utils import timezone

from backup.jobs.admin import OperateActionsMixin

from . import tasks
from .models import DailyUsage, PriceSheet
from .months import Month


@admin.register(PriceSheet)
class PriceSheetAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "currency",
        "effective_from",
        "small_fee",
        "medium_fee",
        "large_fee_per_unit",
        "grs_storage_per_gb_month",
        "lrs_storage_per_gb_month",
    )
    date_hierarchy = "effective_from"

    def has_change_permission(self, request, obj=None):
        # A sheet in force has priced recorded days; changing it would rewrite past bills,
        # so a new price is a new sheet with a later effective date.
        if obj is not None and obj.effective_from <= timezone.now().date():
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.effective_from <= timezone.now().date():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(DailyUsage)
class DailyUsageAdmin(OperateActionsMixin, admin.ModelAdmin):
    list_display = (
        "day",
        "subscription_name",
        "vault_name",
        "vm_name",
        "cloud_service_name",
        "billable",
        "protected_instance_bytes",
        "band",
        "logical_bytes",
        "stored_bytes",
        "redundancy",
    )
    list_filter = ("billable", "band", "redundancy", "subscription")
    search_fields = ("vm_name", "vault_name", "subscription_name")
    date_hierarchy = "day"
    actions = ["recompute_months"]

    @admin.action(
        description="Recompute the usage of the selected records' months (fills missing days)", permissions=["operate"]
    )
    def recompute_months(self, request, queryset) -> None:
        months = sorted({str(Month.of(day)) for day in queryset.values_list("day", flat=True)})
        for month in months:
            tasks.recompute_month.delay_on_commit(month)
        self.message_user(request, f"Recomputing the usage of {', '.join(months)} in the background.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
