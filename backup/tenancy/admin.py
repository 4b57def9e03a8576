from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from .models import ApiToken, Membership, Subscription
from .services import revoke_token


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
    # Revoked only by the action, through the service: revoking someone else's token may need an approval.
    readonly_fields = ("prefix", "token_hash", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        for token in queryset.select_related("user"):
            try:
                revoke_token(token.user, token.prefix, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{token}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{token} revoked.", messages.SUCCESS)
