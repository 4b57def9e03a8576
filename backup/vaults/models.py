from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from backup.tenancy.models import SubscriptionScopedQuerySet

from .regions import REGION_CHOICES


class Vault(models.Model):
    """A backup vault: the place one region's recovery points of a subscription are kept."""

    class Status(models.TextChoices):
        CREATING = "creating", "Creating"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"
        DELETING = "deleting", "Deleting"

    class SoftDelete(models.TextChoices):
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"
        ALWAYS_ON = "always_on", "Always on"

    class Immutability(models.TextChoices):
        DISABLED = "disabled", "Disabled"
        ENABLED = "enabled", "Enabled"
        LOCKED = "locked", "Locked"

    class Redundancy(models.TextChoices):
        GEO = "geo", "Geo-redundant"
        LOCAL = "local", "Locally redundant"

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.PROTECT, related_name="vaults")
    name = models.CharField(max_length=50)
    region = models.CharField(max_length=40, choices=REGION_CHOICES)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATING)
    status_reason = models.TextField(blank=True)
    redundancy = models.CharField(max_length=10, choices=Redundancy.choices, default=Redundancy.GEO)
    # Set when the first item is registered; from then on the redundancy can no longer change.
    redundancy_locked_at = models.DateTimeField(null=True, blank=True)
    # Changed only through backup.vaults.safeguards, which refuses what would weaken them.
    soft_delete = models.CharField(max_length=10, choices=SoftDelete.choices, default=SoftDelete.ENABLED)
    soft_delete_days = models.PositiveSmallIntegerField(default=14)
    immutability = models.CharField(max_length=10, choices=Immutability.choices, default=Immutability.DISABLED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SubscriptionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), "subscription", name="vault_name_unique_in_subscription")]

    def __str__(self) -> str:
        return self.name

    @property
    def store_path(self) -> Path:
        # Named by id, never by the user's vault name, so no user value reaches a file path.
        return Path(settings.VAULT_STORAGE_ROOT) / f"vault-{self.pk}"

    @property
    def store_location(self) -> str:
        """What the engine opens (engine.open_store): this vault's folder today."""
        return str(self.store_path)

    @property
    def soft_delete_on(self) -> bool:
        return self.soft_delete != Vault.SoftDelete.DISABLED

    @property
    def immutable(self) -> bool:
        return self.immutability != Vault.Immutability.DISABLED

    @property
    def redundancy_locked(self) -> bool:
        return self.redundancy_locked_at is not None
