"""The vms app's JSON API: one module per page family, named as in views/, calling the same services.

    inventory    /vms, /cloud-services, /storage-accounts
    registered   discover, the registered items, register
    protected    protect, the protected items
    policies     a vault's backup policies
    backups      back up now
    dashboard    the vault's jobs, filtered and paged as on its JOBS tab
    restore      restore a recovery point
    manage       stop protection, resume, delete backup data, unregister, delete the vault
    operations   recovery points, verify and garbage collection (no page: the admin and the CLI start them)
    anomalies    suspicious recovery points, confirmed or dismissed by the security role

An operation that starts work answers 202 with its jobs. Refusals and bad fields answer with the one error body
of backup/tenancy/api_errors.py: 400 with the messages by field, or 409 when the object's state refuses the
operation. Operation ids are the API's contract with generated clients, so each operation names its own instead
of taking the module its code lives in. Vault deletion goes on the vaults app's router: see
`manage.add_vault_operations`.
"""

from ninja import Router

from . import anomalies, backups, dashboard, inventory, manage, operations, policies, protected, registered, restore
from .manage import add_vault_operations

router = Router()
for module in (inventory, registered, protected, policies, backups, dashboard, restore, manage, operations, anomalies):
    router.add_router("", module.router)

__all__ = ["add_vault_operations", "router"]
