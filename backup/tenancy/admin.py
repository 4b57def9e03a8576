from django.contrib import admin

from .models import ApiToken, Membership, Subscription


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "subscription_id", "member_count", "created_at")
    search_fields = ("name", "subscription_id", "memberships__user__username")
    date_hierarchy = "created_at"
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, subscription: Subscription) -> int:
        return subscription.memberships.count()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "subscription", "role")
    list_filter = ("role", "subscription")
    search_fields = ("user__username", "user__email", "subscription__name")
    list_select_related = ("user", "subscription")
    autocomplete_fields = ("user", "subscription")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("prefix", "user__username", "name")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = ("prefix", "token_hash", "created_at", "last_used_at")
