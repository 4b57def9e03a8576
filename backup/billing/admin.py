from django.contrib import admin
from django.utils import timezone

from .models import DailyUsage, PriceSheet


@admin.register(PriceSheet)
class PriceSheetAdmin(admin.ModelAdmin):
    list_display = ("name", "currency", "effective_from", "small_fee", "medium_fee", "large_fee_per_unit",
                    "grs_storage_per_gb_month", "lrs_storage_per_gb_month")
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
class DailyUsageAdmin(admin.ModelAdmin):
    list_display = ("day", "subscription_name", "vault_name", "vm_name", "cloud_service_name", "billable",
                    "protected_instance_bytes", "band", "logical_bytes", "stored_bytes", "redundancy")
    list_filter = ("billable", "band", "redundancy", "subscription")
    search_fields = ("vm_name", "vault_name", "subscription_name")
    date_hierarchy = "day"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
