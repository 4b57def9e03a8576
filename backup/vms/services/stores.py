"""Opening a vault's store from a job: one place for the failure a user sees when it cannot be opened."""

from backup import engine
from backup.jobs.errors import JobFailed
from backup.vaults.models import Vault

STORE_UNAVAILABLE = "The backup vault's storage cannot be opened."
STORE_UNAVAILABLE_ACTION = "Retry the operation in a few minutes. If the problem persists, contact support."


def open_vault_store(vault: Vault, message: str = STORE_UNAVAILABLE) -> engine.VaultStore:
    try:
        return engine.open_store(vault.store_location, vault.store_options)
    except (engine.NotAStore, engine.StoreUnavailable):
        raise JobFailed(message, STORE_UNAVAILABLE_ACTION, code="VaultStoreUnavailable") from None
