from django.db import models
from django.utils import timezone

from backup.tenancy.models import SubscriptionScopedQuerySet


class VaultScopedQuerySet(SubscriptionScopedQuerySet):
    members_lookup = "vault__subscription__memberships__user"


class RegisteredItem(models.Model):
    """A machine a vault knows about (the product's "container"): discovered, then registered.

    A machine registered with one vault is hidden from every other vault.
    """

    class Status(models.TextChoices):
        NOT_REGISTERED = "not_registered", "Not registered"
        REGISTERING = "registering", "Registering"
        REGISTERED = "registered", "Registered"
        FAILED = "failed", "Registration failed"
        UNREGISTERING = "unregistering", "Unregistering"

    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="registered_items")
    vm = models.ForeignKey(
        "vms.VirtualMachine", on_delete=models.SET_NULL, null=True, blank=True, related_name="registrations"
    )
    # Kept so the item still has a name after its machine is deleted from the fabric.
    vm_name = models.CharField(max_length=64)
    cloud_service_name = models.CharField(max_length=63)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_REGISTERED)
    status_reason = models.TextField(blank=True)
    discovered_at = models.DateTimeField(default=timezone.now)
    registered_at = models.DateTimeField(null=True, blank=True)

    objects = VaultScopedQuerySet.as_manager()

    class Meta:
        ordering = ["vm_name", "cloud_service_name"]
        constraints = [models.UniqueConstraint(fields=["vault", "vm"], name="one_registration_per_vault_and_vm")]
        indexes = [models.Index(fields=["vault", "status"])]

    def __str__(self) -> str:
        return f"{self.vm_name} ({self.cloud_service_name})"


class ProtectedItem(models.Model):
    """A registered machine under a backup policy, and what its backups have produced so far."""

    class Status(models.TextChoices):
        PENDING = "pending", "Protected (pending initial backup)"
        PROTECTED = "protected", "Protected"
        BACKUP_FAILING = "backup_failing", "Protected (backup failing)"
        STOPPED = "stopped", "Protection stopped"

    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="protected_items")
    registered_item = models.OneToOneField(RegisteredItem, on_delete=models.CASCADE, related_name="protected_item")
    vm = models.ForeignKey(
        "vms.VirtualMachine", on_delete=models.SET_NULL, null=True, blank=True, related_name="protections"
    )
    vm_name = models.CharField(max_length=64)
    cloud_service_name = models.CharField(max_length=63)
    policy = models.ForeignKey(
        "vms.BackupPolicy", on_delete=models.PROTECT, null=True, blank=True, related_name="protected_items"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    protected_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_backup_at = models.DateTimeField(null=True, blank=True)
    last_backup_status = models.CharField(max_length=20, blank=True)
    # Protected-instance size at the last successful backup: the billing base once protection stops.
    protected_instance_bytes = models.BigIntegerField(default=0)
    # Soft delete: its data was deleted but is kept (restorable after UNDELETE) until purge_at; the status
    # stays "Protection stopped", so everything that skips stopped items skips these too.
    soft_deleted_at = models.DateTimeField(null=True, blank=True)
    purge_at = models.DateTimeField(null=True, blank=True)

    objects = VaultScopedQuerySet.as_manager()

    class Meta:
        ordering = ["vm_name", "cloud_service_name"]
        indexes = [models.Index(fields=["vault", "status"]), models.Index(fields=["purge_at"])]

    def __str__(self) -> str:
        return f"{self.vm_name} ({self.cloud_service_name})"

    @property
    def is_soft_deleted(self) -> bool:
        return self.purge_at is not None

    @property
    def status_label(self) -> str:
        if self.purge_at is not None:
            return f"Soft deleted - purge on {self.purge_at:%Y-%m-%d}"
        return self.get_status_display()

    @property
    def store_item_id(self) -> str:
        """The engine's name for this item's points: an id, never the machine's name."""
        return f"item-{self.registered_item_id}"


class VerifyState(models.TextChoices):
    OK = "ok", "Verified"
    FAILED = "failed", "Verify failed"


class RecoveryPoint(models.Model):
    """A committed recovery point; the vault's store holds its manifest under `point_id`."""

    VerifyState = VerifyState

    class Consistency(models.TextChoices):
        APPLICATION = "application", "Application consistent"
        FILE = "file", "File-system consistent"
        CRASH = "crash", "Crash consistent"

    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="recovery_points")
    protected_item = models.ForeignKey(
        ProtectedItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="recovery_points"
    )
    registered_item = models.ForeignKey(
        RegisteredItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="recovery_points"
    )
    vm_name = models.CharField(max_length=64)
    point_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_index=True)
    consistency = models.CharField(max_length=20, choices=Consistency.choices)
    # Sizes: data of the disks at the snapshot, bytes read, bytes newly written to the store.
    logical_bytes = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    bytes_transferred = models.BigIntegerField(default=0)
    stored_bytes_new = models.BigIntegerField(default=0)
    protected_instance_bytes = models.BigIntegerField(default=0)
    disks = models.JSONField(default=list, blank=True)
    machine_config = models.TextField(blank=True)  # a KVM domain's XML at the point, to define it again on restore
    job_id = models.BigIntegerField(null=True, blank=True)
    # Made by BACK UP NOW (or an operator's backup) rather than the policy's schedule: retention keeps
    # every such point for the policy's daily retention.
    on_demand = models.BooleanField(default=False)
    # The last Verify of this point: its outcome and time (empty until the first one).
    verify_state = models.CharField(max_length=10, choices=VerifyState.choices, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Chunks found corrupt or missing by a verify or a restore: [{"disk": key, "chunk": hash, "kind": ...}].
    # Cleared once every one of them reads back sound (a later backup rewrote it): see services/integrity.py.
    damaged_chunks = models.JSONField(default=list, blank=True)
    damaged_at = models.DateTimeField(null=True, blank=True)
    # When the point was copied whole to the vault's secondary copy (geo-redundant vaults); empty until then.
    replicated_at = models.DateTimeField(null=True, blank=True)

    objects = VaultScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["vault", "point_id"], name="point_id_unique_in_vault")]
        indexes = [
            models.Index(fields=["protected_item", "-created_at"]),
            models.Index(fields=["vault", "verified_at"]),
            models.Index(fields=["vault", "replicated_at", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.vm_name} @ {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_damaged(self) -> bool:
        return self.damaged_at is not None

    @property
    def damaged_disks(self) -> list[str]:
        """The keys of the disks that cannot be restored, in the order the point lists its disks."""
        bad = {d.get("disk", "") for d in self.damaged_chunks or []}
        order = [d.get("key") for d in self.disks or []]
        return sorted(bad, key=lambda k: (order.index(k) if k in order else len(order), k))
