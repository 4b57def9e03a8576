import os
import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from backup.tenancy.models import SubscriptionScopedQuerySet

from .regions import REGION_CHOICES

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PREFIX = re.compile(r"^[A-Za-z0-9._/-]*$")


def _writable_folder_problem(path: Path) -> str | None:
    """Why vault stores cannot be made under `path`, or None; a folder that does not exist yet is fine when
    its nearest existing parent is writable (it is created with the first store)."""
    if not path.is_absolute():
        return "Enter an absolute path (it starts with /)."
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder."
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"The portal cannot write to {probe}: make it writable for the user the workers run as."
    return None


class StorageLocation(models.Model):
    """Where the vault stores of one region live: a folder (local or shared file system) or an S3-compatible
    bucket. Operators manage them in the admin; a region without one keeps its stores under
    VAULT_STORAGE_ROOT. A vault records the location it was created in, so changing the map moves nothing."""

    class Kind(models.TextChoices):
        FOLDER = "folder", "Folder"
        BUCKET = "bucket", "S3-compatible bucket"

    class Credentials(models.TextChoices):
        ENVIRONMENT = "environment", "From the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
        STORED = "stored", "Entered here"

    name = models.CharField(max_length=60, unique=True)
    region = models.CharField(max_length=40, choices=REGION_CHOICES, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FOLDER)
    path = models.CharField(max_length=500, blank=True, help_text="Folder: the absolute path stores are made in.")
    endpoint_url = models.URLField(blank=True, help_text="Bucket: the server's address; empty for Amazon S3.")
    bucket = models.CharField(max_length=63, blank=True)
    prefix = models.CharField(max_length=200, blank=True, help_text="Bucket: a key prefix for this portal's stores.")
    bucket_region = models.CharField(max_length=40, blank=True, help_text="Bucket: the S3 region name, if needed.")
    path_style = models.BooleanField(default=False, help_text="Bucket: path-style addresses (most local servers).")
    credentials = models.CharField(max_length=12, choices=Credentials.choices, default=Credentials.ENVIRONMENT)
    access_key_id = models.CharField(max_length=128, blank=True)
    secret_access_key = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["region"]

    def __str__(self) -> str:
        return f"{self.name} ({self.region})"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == self.Kind.FOLDER:
            problem = _writable_folder_problem(Path(self.path)) if self.path else "Enter the folder's path."
            if problem:
                errors["path"] = problem
        else:
            if not self.bucket:
                errors["bucket"] = "Enter the bucket's name."
            elif not BUCKET_NAME.match(self.bucket):
                errors["bucket"] = "A bucket name is 3 to 63 lower-case letters, digits, dots and hyphens."
            if not PREFIX.match(self.prefix) or ".." in self.prefix.split("/"):
                errors["prefix"] = "A prefix holds only letters, digits, '.', '_', '-' and '/'."
            if self.credentials == self.Credentials.STORED:
                if not self.access_key_id:
                    errors["access_key_id"] = "Enter the access key id, or take the credentials from the environment."
                if not self.secret_access_key:
                    errors["secret_access_key"] = "Enter the secret access key."
        if errors:
            raise ValidationError(errors)

    def location_for(self, store_name: str) -> str:
        """The engine location of one store here (store_name is derived from ids, never from user input)."""
        if self.kind == self.Kind.FOLDER:
            return str(Path(self.path) / store_name)
        prefix = self.prefix.strip("/")
        return f"s3://{self.bucket}/{prefix + '/' if prefix else ''}{store_name}"

    def options(self, store_name: str) -> dict | None:
        """What the engine needs besides the location of `store_name` (engine.open_store); None for a folder.
        Credentials from the environment are left out: the object storage client reads them there itself."""
        if self.kind == self.Kind.FOLDER:
            return None
        options: dict = {"path_style": self.path_style}
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        if self.bucket_region:
            options["region"] = self.bucket_region
        if self.credentials == self.Credentials.STORED:
            options |= {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key}
        # One cache per store: its known-chunk index must never vouch for chunks of another store.
        options["cache_dir"] = str(Path(settings.VAR_DIR) / "store-cache" / f"location-{self.pk}" / store_name)
        return options


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
    # Where the stores live, recorded at creation (none: the default folder under VAULT_STORAGE_ROOT). A
    # geo-redundant vault's second copy is in its region's pair; `secondary_created_at` is set once it exists.
    primary_location = models.ForeignKey(
        StorageLocation, on_delete=models.PROTECT, null=True, blank=True, related_name="primary_vaults"
    )
    secondary_region = models.CharField(max_length=40, choices=REGION_CHOICES, blank=True)
    secondary_location = models.ForeignKey(
        StorageLocation, on_delete=models.PROTECT, null=True, blank=True, related_name="secondary_vaults"
    )
    secondary_created_at = models.DateTimeField(null=True, blank=True)
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
        """The primary copy's folder (a bucket copy has none: then where it would be by default)."""
        # Named by id, never by the user's vault name, so no user value reaches a file path.
        location = self.primary_location
        if location is not None and location.kind == StorageLocation.Kind.FOLDER:
            return Path(location.location_for(self.store_name))
        return Path(settings.VAULT_STORAGE_ROOT) / self.store_name

    @property
    def store_name(self) -> str:
        return f"vault-{self.pk}"

    @property
    def store_location(self) -> str:
        """What the engine opens (engine.open_store): the primary copy."""
        if self.primary_location is None:
            return str(Path(settings.VAULT_STORAGE_ROOT) / self.store_name)
        return self.primary_location.location_for(self.store_name)

    @property
    def store_options(self) -> dict | None:
        return self.primary_location.options(self.store_name) if self.primary_location is not None else None

    @property
    def has_secondary(self) -> bool:
        """A geo-redundant vault whose second copy exists: each point is replicated to it."""
        return self.secondary_created_at is not None

    @property
    def secondary_store_location(self) -> str:
        if self.secondary_location is None:
            return str(Path(settings.VAULT_STORAGE_ROOT) / "secondary" / self.store_name)
        return self.secondary_location.location_for(self.store_name)

    @property
    def secondary_store_options(self) -> dict | None:
        return self.secondary_location.options(self.store_name) if self.secondary_location is not None else None

    @property
    def in_bucket(self) -> bool:
        """Whether the primary copy is in a bucket (no file system: no free space to watch)."""
        return self.primary_location is not None and self.primary_location.kind == StorageLocation.Kind.BUCKET

    @property
    def soft_delete_on(self) -> bool:
        return self.soft_delete != Vault.SoftDelete.DISABLED

    @property
    def immutable(self) -> bool:
        return self.immutability != Vault.Immutability.DISABLED

    @property
    def redundancy_locked(self) -> bool:
        return self.redundancy_locked_at is not None
