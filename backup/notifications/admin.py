from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "subscription", "level", "updated_at", "read_at")
    list_filter = ("level", "dismissed")
    search_fields = ("title", "message", "user__username")
    date_hierarchy = "updated_at"
