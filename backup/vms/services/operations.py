"""Operators' operations on a vault's backup data: Verify, and garbage collection on demand.

Verify re-reads every chunk a vault's recovery points (or one point) reference and checks its hash.
It is an operator's tool (admin action, CLI `backup verify`, API). A Verify job is locked on
`verify:vault:<id>`, so one store is verified by one job at a time; it reads only and is safe beside
backups and garbage collection. A problem found fails the job with what is damaged and where.
"""

from __future__ import annotations

from backup import engine
from backup.jobs import services as jobs
from backup.jobs.errors import JobFailed, describe
from backup.jobs.models import Job, Operation
from backup.vaults.models import Vault

from ..models import RecoveryPoint
from . import gc
from .stores import open_vault_store

VAULT_NOT_ACTIVE = "The vault is not active - Only an active vault's backup data can be verified."
VAULT_NOT_ACTIVE_GC = "The vault is not active - Garbage collection runs only on an active vault."
DAMAGED_ACTION = (
    "Run a new backup of the affected items so that they have a healthy recovery point, then contact support "
    "with the job's details."
)


def start_verify(vault: Vault, *, user=None, point: RecoveryPoint | None = None) -> Job:
    """Queue a Verify job of the whole vault, or of one of its recovery points."""
    if vault.status != Vault.Status.ACTIVE:
        raise JobFailed(VAULT_NOT_ACTIVE, code="VaultNotActive")
    if point is not None and point.vault_id != vault.pk:
        raise JobFailed("The recovery point does not belong to this vault.", code="PointNotInVault")
    return jobs.start(
        subscription=vault.subscription, operation=Operation.VERIFY,
        item_name=point.vm_name if point else vault.name, item_type="recovery_point" if point else "vault",
        item_id=point.pk if point else vault.pk, vault_id=vault.pk, lock_key=f"verify:vault:{vault.pk}",
        params={"point_ids": [point.point_id]} if point else {}, user=user,
    )


def verify_vault(vault_id: int, point_ids: list[str] | None = None) -> engine.VerifyReport:
    """Check the data; raise JobFailed with a summary when a chunk is missing or corrupt."""
    vault = Vault.objects.get(pk=vault_id)
    store = open_vault_store(vault)
    try:
        report = engine.verify(store, point_ids)
    except engine.EngineError as exc:
        raise JobFailed(f"The recovery point's data cannot be read: {describe(exc)}.", DAMAGED_ACTION,
                        code="RecoveryPointMissing") from None
    if not report.ok:
        raise JobFailed(f"Verification found damaged backup data: {report.summary()}.", DAMAGED_ACTION,
                        code="BackupDataDamaged")
    return report


def start_gc_now(vault: Vault, *, user=None) -> Job:
    """Garbage collection on demand (beat runs it hourly too); refused on a vault that is not Active."""
    if vault.status != Vault.Status.ACTIVE:
        raise JobFailed(VAULT_NOT_ACTIVE_GC, code="VaultNotActive")
    return gc.start_gc(vault, user=user)
