"""Managing protection: Stop Protection (keeping or deleting the backup data), Delete Backup Data, resuming
protection, Unregister, and deleting a vault. Each is a job with the product's operation name.

- Stop Protection keeps the data: the item reads "Protection stopped", scheduled and on-demand backups skip
  it, its recovery points stay restorable (and billed). With "Delete associated backup data" the same job
  then deletes the data: the RecoveryPoint rows and the ProtectedItem row go first, then the manifests
  (engine.delete_item), and a Garbage Collection job of the vault frees the chunks nothing references any more.
- Delete Backup Data does the second half later, for an item whose protection is stopped.
- Soft delete (on by default, per vault): deleting the data keeps it instead, every row and manifest, with an
  engine hold until the purge date (now + the vault's period); the item reads "Soft deleted - purge on DATE".
  UNDELETE returns it to "Protection stopped" with every point restorable; beat's purge starts a Delete Backup
  Data job (params purge=True) for each item whose date has passed, which deletes it for good.
- An immutable vault refuses deleting data that has not expired (services/reductions.py).
- Resume is PROTECT again with a policy (protection.start_protection): the kept points stay.
- Unregister removes the backup extension and the registration of an item with no protection and no data.
- Delete Vault is refused while anything is left; otherwise the vault reads Deleting until its job removed
  the store folder and the rows.

Stop Protection, Delete Backup Data and Unregister lock the machine (`vm:<id>`), like backups do.

The concepts live in their own modules (data_deletion, soft_delete, unregister, vault_deletion); every name
callers use stays importable from here, and importing this module registers the four modules' job handlers.
"""

from __future__ import annotations

from .data_deletion import (
    ALREADY_STOPPED,
    ITEM_GONE,
    NOT_STOPPED,
    NOT_STOPPED_RESUME,
    SOFT_DELETED_RESUME,
    STEP_DELETE_DATA,
    STEP_STOP,
    VM_GONE_RESUME,
    delete_backup_data,
    delete_item_data,
    resume_protection,
    run_delete_backup_data,
    run_stop_protection,
    stop_protection,
)
from .item_jobs import MAX_REASON
from .soft_delete import ALREADY_SOFT_DELETED, NOT_SOFT_DELETED, purge_due_items, soft_delete_item_data, undelete
from .unregister import STEP_UNREGISTER, run_unregister, start_unregister, unregister_problem, unregistrable_items
from .vault_deletion import (
    STEP_CHECK_EMPTY,
    STEP_DELETE_STORE,
    STEP_DELETE_VAULT,
    VAULT_BUSY,
    VAULT_NOT_EMPTY,
    VAULT_SOFT_DELETED,
    run_delete_vault,
    soft_deleted_contents,
    start_delete_vault,
    vault_contents,
    vault_deletion_problem,
)

__all__ = [
    "ALREADY_SOFT_DELETED",
    "ALREADY_STOPPED",
    "ITEM_GONE",
    "MAX_REASON",
    "NOT_SOFT_DELETED",
    "NOT_STOPPED",
    "NOT_STOPPED_RESUME",
    "SOFT_DELETED_RESUME",
    "STEP_CHECK_EMPTY",
    "STEP_DELETE_DATA",
    "STEP_DELETE_STORE",
    "STEP_DELETE_VAULT",
    "STEP_STOP",
    "STEP_UNREGISTER",
    "VAULT_BUSY",
    "VAULT_NOT_EMPTY",
    "VAULT_SOFT_DELETED",
    "VM_GONE_RESUME",
    "delete_backup_data",
    "delete_item_data",
    "purge_due_items",
    "resume_protection",
    "run_delete_backup_data",
    "run_delete_vault",
    "run_stop_protection",
    "run_unregister",
    "soft_delete_item_data",
    "soft_deleted_contents",
    "start_delete_vault",
    "start_unregister",
    "stop_protection",
    "undelete",
    "unregister_problem",
    "unregistrable_items",
    "vault_contents",
    "vault_deletion_problem",
]
