from decimal import Decimal

from django.db import models
from django.utils import timezone

from backup.tenancy.models import SubscriptionScopedQuerySet


class PriceSheet(models.Model):
    """The list prices of VM backup from a date on: protected-instance fees by size band and
    backup storage per GB-month by the vault's redundancy.

    Prices are data. A sheet prices every day from `effective_from` until the next sheet starts,
    so a new price is a new sheet; a sheet already in force is read-only in the admin, which
    keeps past bills unchanged.
    """

    name = models.CharField(max_length=100, default="Azure Backup list prices")
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code, e.g. USD.")
    effective_from = models.DateField(unique=True)
    # Size bands of a protected instance, in GB (1 GB = 2^30 bytes, see services.pricing.GB).
    small_band_max_gb = models.PositiveIntegerField(default=50, help_text="Upper edge (inclusive) of the small band.")
    medium_band_max_gb = models.PositiveIntegerField(
        default=500, help_text="Upper edge (inclusive) of the medium band; above it the large band starts."
    )
    large_unit_gb = models.PositiveIntegerField(default=500, help_text="The large band is charged per started unit.")
    small_fee = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("5"))
    medium_fee = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("10"))
    large_fee_per_unit = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("10"))
    grs_storage_per_gb_month = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0.048"))
    lrs_storage_per_gb_month = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0.024"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency}, from {self.effective_from:%Y-%m-%d})"


class DailyUsageQuerySet(SubscriptionScopedQuerySet):
    def in_month(self, month) -> "DailyUsageQuerySet":
        return self.filter(day__gte=month.first_day, day__lte=month.last_day)


class DailyUsage(models.Model):
    """What one protected VM used on one day, as metered: the base of every bill.

    The item's identity is kept as names and ids (no foreign key to the item), so the record
    outlives the protected item; a day's record is written while the day runs and never after.
    """

    class Band(models.TextChoices):
        SMALL = "small", "Small"
        MEDIUM = "medium", "Medium"
        LARGE = "large", "Large"

    day = models.DateField()
    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.PROTECT, related_name="daily_usage")
    subscription_name = models.CharField(max_length=100)
    vault_ref = models.BigIntegerField(help_text="Id of the vault; kept when the vault is gone.")
    vault_name = models.CharField(max_length=50)
    item_ref = models.BigIntegerField(help_text="Id of the registered item (the VM in the vault).")
    protected_item_ref = models.BigIntegerField(null=True, blank=True)
    vm_name = models.CharField(max_length=64)
    cloud_service_name = models.CharField(max_length=63)
    item_status = models.CharField(max_length=20, blank=True)
    protected_instance_bytes = models.BigIntegerField(default=0)
    band = models.CharField(max_length=10, choices=Band.choices, default=Band.SMALL)
    large_units = models.PositiveIntegerField(default=0, help_text="Started large units (large band only).")
    recovery_points = models.PositiveIntegerField(default=0)
    logical_bytes = models.BigIntegerField(default=0)
    stored_bytes = models.BigIntegerField(default=0)
    redundancy = models.CharField(max_length=10)
    billable = models.BooleanField(default=False)
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = DailyUsageQuerySet.as_manager()

    class Meta:
        ordering = ["day", "vault_name", "vm_name"]
        verbose_name_plural = "daily usage"
        constraints = [
            models.UniqueConstraint(fields=["day", "vault_ref", "item_ref"], name="one_usage_row_per_item_and_day")
        ]
        indexes = [models.Index(fields=["subscription", "day"])]

    def __str__(self) -> str:
        return f"{self.vm_name} in {self.vault_name} on {self.day:%Y-%m-%d}"
