from django.conf import settings
from django.db import models
from django.utils import timezone

from .protection import VaultScopedQuerySet


class PointAnomaly(models.Model):
    """A recovery point whose backup changed far more of the item than its history and wrote near
    incompressible new data (what mass encryption looks like). While it is Suspicious, retention keeps every
    older point of the item; the security role confirms or dismisses it."""

    class State(models.TextChoices):
        SUSPICIOUS = "suspicious", "Suspicious"
        CONFIRMED = "confirmed", "Confirmed (the data was attacked)"
        DISMISSED = "dismissed", "Dismissed (a legitimate change)"

    point = models.OneToOneField("vms.RecoveryPoint", on_delete=models.CASCADE, related_name="anomaly")
    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="+")
    protected_item = models.ForeignKey(
        "vms.ProtectedItem", on_delete=models.SET_NULL, null=True, blank=True, related_name="anomalies"
    )
    vm_name = models.CharField(max_length=64)
    # This backup's figures and the item's usual ones (medians of its recent points).
    changed_share = models.FloatField()
    new_data_ratio = models.FloatField()
    usual_changed_share = models.FloatField()
    usual_new_data_ratio = models.FloatField()
    detected_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=12, choices=State.choices, default=State.SUSPICIOUS)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    objects = VaultScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at", "-id"]
        indexes = [models.Index(fields=["protected_item", "state"])]

    def __str__(self) -> str:
        return f"{self.vm_name}: {self.get_state_display()}"

    @property
    def summary(self) -> str:
        return (
            f"The backup changed {self.changed_share:.0%} of '{self.vm_name}' (usually "
            f"{self.usual_changed_share:.0%}) and its new data is near incompressible "
            f"({self.new_data_ratio:.0%} of its size after compression)"
        )


class BackupFigures(models.Model):
    """One backup's figures, kept per item apart from its points: retention may keep one point a day, and the
    comparison needs the recent backups whatever it pruned. The newest few are kept (services/anomaly.py)."""

    protected_item = models.ForeignKey("vms.ProtectedItem", on_delete=models.CASCADE, related_name="+")
    point_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    changed_share = models.FloatField()
    new_data_ratio = models.FloatField()
    suspicious = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["protected_item", "-created_at"])]
