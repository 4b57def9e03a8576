from django.contrib import admin

from .models import ApiToken, Membership, Subscription


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "subscription_id", "created_at")
    search_fields = ("name", "subscription_id")
    inlines = [MembershipInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "user__username")
    readonly_fields = ("prefix", "token_hash", "created_at", "last_used_at")
