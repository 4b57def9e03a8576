from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "subscription", "level", "updated_at", "read_at", "dismissed")
    list_filter = ("level", "dismissed", "subscription")
    search_fields = ("title", "message", "user__username", "key")
    date_hierarchy = "updated_at"
    list_select_related = ("user", "subscription")
