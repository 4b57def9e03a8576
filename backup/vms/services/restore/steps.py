"""What every Restore job shares, whether it restores into a storage account (job) or onto a KVM host
(kvm_restore): the names of its steps and messages, its record of what it made (Made), the check of its point
and target, and the engine's restore of the point's disks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from backup import engine
from backup.jobs.context import JobContext
from backup.jobs.errors import JobCancelled, JobFailed, describe
from backup.jobs.models import Job

from ...models import RecoveryPoint, VirtualMachine
from .. import integrity, replication
from ..stores import open_vault_store
from .targets import RestoreRequest, RestoreTarget, validate_restore

POINT_GONE = "The recovery point no longer exists in the backup vault."
POINT_GONE_ACTION = "Choose another recovery point and start the restore again."
DAMAGED = "The backup data of the recovery point could not be read: {error}"
DAMAGED_ACTION = "Choose another recovery point, and run Verify on the vault."

STEP_PREPARE = "Prepare target"
STEP_DISKS = "Restore disks"
STEP_VM = "Create virtual machine"
STEP_REGISTER_DISKS = "Record restored disks"


@dataclass
class Made:
    """What a restore created so far, so a failure can remove it.

    It is written to the job's row as soon as something exists: the job's clean-up (`clean_up_restore`) reads
    it from there however the job ended, failed, cancelled or with its worker killed, and so does a
    redelivered attempt.
    """

    folder: Path | None = None
    vm_id: int | None = None
    cloud_service_id: int | None = None
    # On a KVM host: the volumes, the staging files beside them, and the domain the restore defined.
    host_id: int | None = None
    volumes: list[str] = field(default_factory=list)
    staging: list[str] = field(default_factory=list)
    domain_uuid: str = ""

    def record(self, job: Job) -> None:
        # The folder relative to the fabric's root: a job's result never shows where the server keeps files.
        folder = str(self.folder.relative_to(settings.FABRIC_ROOT)) if self.folder else None
        job.result["made"] = {"folder": folder, "vm_id": self.vm_id, "cloud_service_id": self.cloud_service_id}
        if self.host_id is not None:
            job.result["made"] |= {
                "host_id": self.host_id,
                "volumes": self.volumes,
                "staging": self.staging,
                "domain_uuid": self.domain_uuid,
            }
        Job.objects.filter(pk=job.pk).update(result=job.result)

    @classmethod
    def recorded(cls, job: Job) -> Made | None:
        made = (job.result or {}).get("made")
        if not made:
            return None
        return cls(
            folder=Path(settings.FABRIC_ROOT) / made["folder"] if made["folder"] else None,
            vm_id=made["vm_id"],
            cloud_service_id=made["cloud_service_id"],
            host_id=made.get("host_id"),
            volumes=list(made.get("volumes") or []),
            staging=list(made.get("staging") or []),
            domain_uuid=made.get("domain_uuid") or "",
        )


def checked_point(params: dict) -> tuple[RecoveryPoint, engine.VaultStore, RestoreTarget]:
    """The job's point, its store and its target, checked again (the fabric may have changed since the start)."""
    point = (
        RecoveryPoint.objects.select_related("vault__subscription", "protected_item__vm", "registered_item__vm")
        .filter(pk=params["recovery_point_id"])
        .first()
    )
    if point is None:
        raise JobFailed(POINT_GONE, POINT_GONE_ACTION, code="RecoveryPointNotFound")
    if params.get("from_secondary"):
        if not point.vault.has_secondary:
            raise JobFailed(POINT_GONE, POINT_GONE_ACTION, code="RecoveryPointNotFound")
        store = replication.open_secondary_store(point.vault)
    else:
        store = open_vault_store(point.vault)
    if not store.has_manifest(point.point_id):
        raise JobFailed(POINT_GONE, POINT_GONE_ACTION, code="RecoveryPointNotFound")
    try:
        target = validate_restore(point, RestoreRequest.from_params(params))
    except ValidationError as error:
        if point.is_damaged and "point_id" in getattr(error, "message_dict", {}):
            raise JobFailed(" ".join(error.messages), DAMAGED_ACTION, code="RecoveryPointDamaged") from None
        raise JobFailed(
            " ".join(error.messages),
            "Correct the restore settings and start the restore again.",
            code="RestoreTargetInvalid",
        ) from None
    return point, store, target


def copied_from(source: VirtualMachine | None) -> dict:
    if source is None:
        return {}
    return {
        "os_family": source.os_family,
        "os_version": source.os_version,
        "size": source.size,
        "agent_version": source.agent_version,
        "domain_controller": source.domain_controller,
        "multi_dc_domain": source.multi_dc_domain,
    }


def restore_disks(ctx: JobContext, store, point: RecoveryPoint, targets: dict[str, Path]) -> None:
    try:
        result = engine.restore_point(
            store, point.point_id, targets, progress=ctx.progress, cancel=ctx.cancel_requested
        )
    except engine.Cancelled:
        raise JobCancelled() from None
    except engine.StoreFull:
        raise JobFailed(
            "The target storage account is full.", "Choose another storage account.", code="StorageAccountFull"
        ) from None
    except engine.ChunkError as error:
        integrity.record_chunk_error(point.vault, store, error)
        raise JobFailed(DAMAGED.format(error=error), DAMAGED_ACTION, code="RecoveryPointUnreadable") from None
    except (engine.EngineError, ValueError) as error:
        raise JobFailed(DAMAGED.format(error=describe(error)), DAMAGED_ACTION, code="RecoveryPointUnreadable") from None
    ctx.record(restored_bytes=result.bytes_total, disks_restored=len(result.files))
