from django.contrib import admin

from .models import Vault


@admin.register(Vault)
class VaultAdmin(admin.ModelAdmin):
    list_display = ("name", "subscription", "region", "status", "redundancy", "created_at")
    list_filter = ("status", "region", "redundancy")
    search_fields = ("name", "subscription__name")
    date_hierarchy = "created_at"
