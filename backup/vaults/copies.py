"""A vault's copies: the primary store in its region and, for a geo-redundant vault, the secondary store in the
paired region. Which location each region uses is the operators' StorageLocation map; a region without one keeps
its stores under VAULT_STORAGE_ROOT."""

from __future__ import annotations

from django.utils import timezone

from backup import engine

from .models import StorageLocation, Vault
from .regions import paired_region


def location_of(region: str) -> StorageLocation | None:
    return StorageLocation.objects.filter(region=region).first()


def init_primary(vault: Vault) -> engine.VaultStore:
    return engine.init_store(vault.store_location, vault.store_options)


def ensure_secondary(vault: Vault) -> None:
    """Give a geo-redundant vault its secondary store in the paired region (idempotent). An engine error
    (the location cannot be written) reaches the caller, which says so where the redundancy was chosen."""
    if vault.redundancy != Vault.Redundancy.GEO or vault.has_secondary:
        return
    vault.secondary_region = paired_region(vault.region)
    vault.secondary_location = location_of(vault.secondary_region)
    engine.init_store(vault.secondary_store_location, vault.secondary_store_options)
    vault.secondary_created_at = timezone.now()
    vault.save(update_fields=["secondary_region", "secondary_location", "secondary_created_at"])


def drop_secondary(vault: Vault) -> None:
    """A vault set locally redundant before its redundancy locked: its (still empty) secondary goes."""
    if not vault.has_secondary:
        return
    try:
        engine.destroy_store(vault.secondary_store_location, vault.secondary_store_options)
    except (engine.EngineError, OSError):
        pass  # an empty store left behind holds nothing; the vault no longer names it
    vault.secondary_region, vault.secondary_location, vault.secondary_created_at = "", None, None
    vault.save(update_fields=["secondary_region", "secondary_location", "secondary_created_at"])


def destroy_copies(vault: Vault) -> None:
    """Delete every copy of the vault's data: folders and bucket objects alike (the primary, then the secondary)."""
    engine.destroy_store(vault.store_location, vault.store_options)
    if vault.has_secondary:
        engine.destroy_store(vault.secondary_store_location, vault.secondary_store_options)


def open_secondary(vault: Vault) -> engine.VaultStore:
    return engine.open_store(vault.secondary_store_location, vault.secondary_store_options)
