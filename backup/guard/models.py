from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone


class GuardedOperation(models.TextChoices):
    DELETE_BACKUP_DATA = "delete_backup_data", "Delete backup data"
    DELETE_VAULT = "delete_vault", "Delete the vault"
    REDUCE_RETENTION = "reduce_retention", "Reduce retention"
    REVOKE_TOKEN = "revoke_token", "Revoke another user's API token"
    DISABLE_SOFT_DELETE = "disable_soft_delete", "Disable soft delete"
    DISABLE_IMMUTABILITY = "disable_immutability", "Disable or unlock immutability"


def every_operation() -> list[str]:
    return list(GuardedOperation.values)


class ResourceGuard(models.Model):
    """The subscription's guard: who approves (a group none of the subscription's members is in) and what."""

    subscription = models.OneToOneField("tenancy.Subscription", on_delete=models.PROTECT, related_name="guard")
    name = models.CharField(max_length=100)
    security_group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="resource_guards")
    operations = models.JSONField(default=every_operation, help_text="The operations that need an approval.")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    def protects(self, operation: str) -> bool:
        return operation in (self.operations or [])


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        USED = "used", "Used"

    guard = models.ForeignKey(ResourceGuard, on_delete=models.PROTECT, related_name="requests")
    operation = models.CharField(max_length=30, choices=GuardedOperation.choices)
    # What the approval is for, e.g. "protected-item:12" or "policy:5:daily=7,weekly=0,...": one target only.
    target = models.CharField(max_length=200)
    target_name = models.CharField(max_length=200, blank=True)
    vault_id = models.BigIntegerField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True, help_text="Why the requester needs it (asked by the portal's dialogs).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["guard", "operation", "target", "status"])]

    def __str__(self) -> str:
        return f"request {self.pk}: {self.get_operation_display()} {self.target_name or self.target}"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def status_display(self) -> str:
        if self.status == self.Status.APPROVED and self.expired:
            return "Approval expired"
        return self.get_status_display()


class AuditEvent(models.Model):
    """Append-only: written by the guard's services, never edited (the admin is read-only for everyone)."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        PERFORMED = "performed", "Operation run"
        REFUSED = "refused", "Refused"
        POINT_SUSPICIOUS = "point_suspicious", "Recovery point suspicious"
        POINT_DECIDED = "point_decided", "Suspicious point decided"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.PROTECT, related_name="+")
    vault_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="events")
    operation = models.CharField(max_length=30, blank=True)
    target = models.CharField(max_length=200, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.target}"
