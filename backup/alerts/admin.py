from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from backup.jobs.admin import OperateActionsMixin, ReadOnlyAdminMixin

from .models import Alert, AlertRule, AlertTarget, Delivery, Kind, Severity
from .services import delivery, incidents


class AlertTargetForm(forms.ModelForm):
    url = forms.URLField(required=False, max_length=500, assume_scheme="https", help_text="The webhook's address.")
    # Write-only: the saved secret is never rendered back; leaving the field empty keeps it.
    secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="The webhook's HMAC-SHA256 key. Never shown again after saving; leave empty to keep the current one.",
    )

    class Meta:
        model = AlertTarget
        fields = ["subscription", "name", "type", "emails", "url", "secret"]

    def clean_secret(self) -> str:
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")

    def clean(self):
        data = super().clean()
        if data.get("type") == AlertTarget.Type.EMAIL:
            addresses = [a.strip() for a in (data.get("emails") or "").split(",") if a.strip()]
            if not addresses:
                self.add_error("emails", "An e-mail target needs at least one address.")
            for address in addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    self.add_error("emails", f"'{address}' is not an e-mail address.")
        elif data.get("type") == AlertTarget.Type.WEBHOOK:
            if not data.get("url"):
                self.add_error("url", "A webhook target needs its address.")
            elif not data["url"].startswith(("http://", "https://")):
                self.add_error("url", "The webhook address must start with http:// or https://.")
            if len(data.get("secret") or "") < 16:
                self.add_error("secret", "A webhook target needs a secret of at least 16 characters.")
        return data


@admin.register(AlertTarget)
class AlertTargetAdmin(OperateActionsMixin, admin.ModelAdmin):
    form = AlertTargetForm
    list_display = ("name", "type", "subscription", "destination", "secret_set", "created_at")
    list_filter = ("type", "subscription")
    search_fields = ("name", "emails", "url")
    actions = ["send_test"]

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        # A view-only user would see a read-only field's value: the secret is not listed for them at all.
        return fields if self.has_change_permission(request, obj) else [f for f in fields if f != "secret"]

    @admin.display(description="Destination")
    def destination(self, target: AlertTarget) -> str:
        return target.emails if target.type == AlertTarget.Type.EMAIL else target.url

    @admin.display(description="Secret", boolean=True)
    def secret_set(self, target: AlertTarget) -> bool:
        return bool(target.secret)

    @admin.action(description="Send a test alert", permissions=["operate"])
    def send_test(self, request, queryset) -> None:
        for target in queryset:
            sent = delivery.send_test(target)
            if sent.status == Delivery.Status.DELIVERED:
                self.message_user(
                    request, f"Test alert delivered to '{target.name}': {sent.last_response[:200]}", messages.SUCCESS
                )
            else:
                self.message_user(
                    request, f"Test alert to '{target.name}' failed: {sent.last_response[:300]}", messages.ERROR
                )


class AlertRuleForm(forms.ModelForm):
    severities = forms.MultipleChoiceField(
        choices=Severity.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None: every severity."
    )
    kinds = forms.MultipleChoiceField(
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None: every kind. Security events are delivered whatever is chosen.",
    )

    class Meta:
        model = AlertRule
        fields = ["subscription", "name", "enabled", "severities", "kinds", "vaults", "targets"]

    def clean(self):
        data = super().clean()
        subscription = data.get("subscription")
        if subscription is not None:
            for field in ("vaults", "targets"):
                foreign = [str(o) for o in data.get(field) or [] if o.subscription_id != subscription.pk]
                if foreign:
                    self.add_error(field, f"Not of the subscription '{subscription}': {', '.join(foreign)}.")
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ("name", "subscription", "enabled", "severities", "kinds")
    list_filter = ("enabled", "subscription")
    filter_horizontal = ("vaults", "targets")


class DeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Delivery
    fields = ("target", "event", "status", "attempts", "last_status_code", "delivered_at", "next_attempt_at")
    extra = 0


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, OperateActionsMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "severity",
        "state",
        "vault",
        "count",
        "first_seen_at",
        "last_seen_at",
        "acknowledged_at",
    )
    list_filter = ("state", "severity", "kind", "subscription")
    search_fields = ("item_name", "item_key", "message")
    date_hierarchy = "last_seen_at"
    list_select_related = ("vault", "subscription")
    inlines = [DeliveryInline]
    actions = ["acknowledge"]

    @admin.action(description="Acknowledge", permissions=["operate"])
    def acknowledge(self, request, queryset) -> None:
        for alert in queryset:
            incidents.acknowledge(alert, request.user)
        self.message_user(request, f"{queryset.count()} alert(s) acknowledged.", messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, OperateActionsMixin, admin.ModelAdmin):
    """The delivery log: every message, its attempts and the last response of its target."""

    list_display = (
        "idempotency_key",
        "target",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "delivered_at",
        "next_attempt_at",
    )
    list_filter = ("status", "event", "target__type")
    search_fields = ("idempotency_key", "target__name", "last_response")
    readonly_fields = (
        "alert",
        "target",
        "event",
        "idempotency_key",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "claimed_at",
        "delivered_at",
        "last_status_code",
        "last_response",
    )
    list_select_related = ("target",)
    actions = ["retry_now"]

    @admin.action(description="Send again now", permissions=["operate"])
    def retry_now(self, request, queryset) -> None:
        from django.utils import timezone

        count = queryset.exclude(status=Delivery.Status.DELIVERED).update(
            status=Delivery.Status.PENDING, next_attempt_at=timezone.now()
        )
        self.message_user(request, f"{count} delivery(ies) will be sent within a minute.", messages.SUCCESS)
