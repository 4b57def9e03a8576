from django.contrib import admin

from .models import Job, SubTask


class SubTaskInline(admin.TabularInline):
    model = SubTask
    extra = 0


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "operation", "item_name", "status", "subscription", "started_at", "ended_at")
    list_filter = ("operation", "status", "scheduled")
    search_fields = ("item_name", "error_message")
    date_hierarchy = "started_at"
    inlines = [SubTaskInline]
