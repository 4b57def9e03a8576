from django.conf import settings
from django.db import models
from django.utils import timezone

from backup.tenancy.models import SubscriptionScopedQuerySet


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    WARNING = "warning", "Warning"
    INFORMATION = "information", "Information"


class Kind(models.TextChoices):
    BACKUP_FAILED = "backup_failed", "Backup failure"
    RESTORE_FAILED = "restore_failed", "Restore failure"
    VERIFY_FAILED = "verify_failed", "Verify failure"
    STALE_PROTECTION = "stale_protection", "Stale protection (missed RPO)"
    DAMAGED_POINT = "damaged_point", "Damaged recovery point"
    STORAGE_NEARLY_FULL = "storage_nearly_full", "Vault storage nearly full"
    BACKUP_DATA_DELETED = "backup_data_deleted", "Backup data deleted"
    STOPPED_DATA_DELETED = "protection_stopped_data_deleted", "Protection stopped with data deleted"
    RETENTION_REDUCED = "retention_reduced", "Policy changed to keep less"
    DRILL_FAILED = "drill_failed", "Restore drill failure"
    SUSPICIOUS_BACKUP = "suspicious_backup", "Suspicious backup (mass change of incompressible data)"
    SOFT_DELETE_DISABLED = "soft_delete_disabled", "Soft delete turned off"
    SOFT_DELETE_CHANGED = "soft_delete_changed", "Soft delete settings changed"
    IMMUTABILITY_CHANGED = "immutability_changed", "Vault immutability changed"
    APPROVAL_REQUESTED = "approval_requested", "Approval requested (resource guard)"
    APPROVAL_GRANTED = "approval_granted", "Approval granted (resource guard)"
    APPROVAL_REJECTED = "approval_rejected", "Approval rejected (resource guard)"
    APPROVAL_EXPIRED = "approval_expired", "Approval expired unused (resource guard)"
    GUARD_CHANGED = "guard_changed", "Resource guard changed"


# Security events: delivered by every rule of the subscription whatever its filters, never auto-resolved.
SECURITY_KINDS: frozenset[str] = frozenset(
    {
        Kind.BACKUP_DATA_DELETED,
        Kind.STOPPED_DATA_DELETED,
        Kind.RETENTION_REDUCED,
        Kind.SUSPICIOUS_BACKUP,
        Kind.SOFT_DELETE_DISABLED,
        Kind.SOFT_DELETE_CHANGED,
        Kind.IMMUTABILITY_CHANGED,
        Kind.APPROVAL_REQUESTED,
        Kind.APPROVAL_GRANTED,
        Kind.APPROVAL_REJECTED,
        Kind.APPROVAL_EXPIRED,
        Kind.GUARD_CHANGED,
    }
)
SEVERITY_OF: dict[str, str] = {
    Kind.BACKUP_FAILED: Severity.CRITICAL,
    Kind.RESTORE_FAILED: Severity.CRITICAL,
    Kind.VERIFY_FAILED: Severity.CRITICAL,
    Kind.STALE_PROTECTION: Severity.CRITICAL,
    Kind.DAMAGED_POINT: Severity.CRITICAL,
    Kind.STORAGE_NEARLY_FULL: Severity.WARNING,
    Kind.BACKUP_DATA_DELETED: Severity.CRITICAL,
    Kind.STOPPED_DATA_DELETED: Severity.CRITICAL,
    Kind.RETENTION_REDUCED: Severity.WARNING,
    Kind.DRILL_FAILED: Severity.CRITICAL,
    Kind.SUSPICIOUS_BACKUP: Severity.CRITICAL,
    Kind.SOFT_DELETE_DISABLED: Severity.CRITICAL,
    Kind.SOFT_DELETE_CHANGED: Severity.WARNING,
    Kind.IMMUTABILITY_CHANGED: Severity.WARNING,
    Kind.APPROVAL_REQUESTED: Severity.WARNING,
    Kind.APPROVAL_GRANTED: Severity.WARNING,
    Kind.APPROVAL_REJECTED: Severity.INFORMATION,
    Kind.APPROVAL_EXPIRED: Severity.INFORMATION,
    Kind.GUARD_CHANGED: Severity.CRITICAL,
}


class Alert(models.Model):
    """One incident: a cause (`kind`) on one item (`item_key`, e.g. "vm:12"), open until the cause goes."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        RESOLVED = "resolved", "Resolved"

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.CASCADE, related_name="alerts")
    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, null=True, blank=True, related_name="alerts")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    severity = models.CharField(max_length=12, choices=Severity.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    item_key = models.CharField(max_length=100)
    item_name = models.CharField(max_length=200, blank=True)
    operation = models.CharField(max_length=40, blank=True)
    message = models.TextField(blank=True)
    job_id = models.BigIntegerField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = SubscriptionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "kind", "item_key"],
                condition=models.Q(state="active"),
                name="one_active_alert_per_cause_and_item",
            ),
        ]
        indexes = [
            models.Index(fields=["vault", "state", "-last_seen_at"], name="alert_vault_state_seen"),
            models.Index(fields=["kind", "state"], name="alert_kind_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.item_name or self.item_key}"

    @property
    def is_security(self) -> bool:
        return self.kind in SECURITY_KINDS

    @property
    def job_url(self) -> str:
        return f"/jobs/{self.job_id}/" if self.job_id else ""


class AlertTarget(models.Model):
    """Where alerts go: e-mail addresses (through Django's mail system) or a webhook signed with its secret."""

    class Type(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.CASCADE, related_name="alert_targets")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=Type.choices)
    emails = models.TextField(blank=True, help_text="E-mail addresses, separated by commas.")
    url = models.URLField(max_length=500, blank=True, help_text="The webhook's http(s) address.")
    # The HMAC key of a webhook's signature: written once, never shown again (the admin form is write-only).
    secret = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SubscriptionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["subscription", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_type_display()})"

    @property
    def addresses(self) -> list[str]:
        return [a.strip() for a in self.emails.split(",") if a.strip()]


class AlertRule(models.Model):
    """Which alerts of a subscription go to which of its targets; an empty filter matches everything."""

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True, help_text="Security events are delivered even when off.")
    severities = models.JSONField(default=list, blank=True, help_text='e.g. ["critical"]; empty: every severity.')
    kinds = models.JSONField(default=list, blank=True, help_text='e.g. ["backup_failed"]; empty: every kind.')
    vaults = models.ManyToManyField("vaults.Vault", blank=True, related_name="+", help_text="None: every vault.")
    targets = models.ManyToManyField(AlertTarget, related_name="rules")

    objects = SubscriptionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["subscription", "name"]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One message of one alert to one target: the delivery log, and the queue retries are sent from."""

    class Event(models.TextChoices):
        RAISED = "raised", "Raised"
        RESOLVED = "resolved", "Resolved"
        TEST = "test", "Test"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    target = models.ForeignKey(AlertTarget, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    idempotency_key = models.CharField(max_length=80, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due")]

    def __str__(self) -> str:
        return self.idempotency_key
