"""The Restore job for a point of a KVM machine: new volumes in the host's storage pool and, unless only the disks
are restored, a new domain defined from the point's domain XML (new name, new UUID and MAC addresses).

Each disk is restored by the engine into a sparse raw staging file beside the pool's volumes, then written into
a new qcow2 volume by the host (only its data: holes stay holes) and the staging file removed. Everything made
is in the job's Made record before it exists, so the clean-up of a failed, cancelled or lost restore deletes
the volumes, the staging files and the domain.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import IntegrityError, transaction

from backup import kvm
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed
from backup.jobs.models import Job

from ...models import HypervisorHost, RecoveryPoint, VirtualDisk, VirtualMachine
from .. import hosts
from ..kvm_backup import host_errors
from . import steps
from .offers import source_vm
from .targets import REPLACE_REFUSED, RestoreTarget

log = logging.getLogger(__name__)

REPLACE_ACTION = "Choose another name for the restored virtual machine."
# A started guest with an agent channel gets this long to boot and answer (a small Linux guest under TCG boots in
# 10-20 s); the restore completes either way, saying whether it answered.
AGENT_BOOT_WAIT_S = 90.0


def volume_names(job: Job, target: RestoreTarget) -> dict[str, str]:
    """New volumes' names, with the job's id: never an earlier restore's volume, even of the same name."""
    prefix = f"restore-{job.pk}" if target.disks_only else f"{target.vm_name}-{job.pk}"
    return {key: f"{prefix}-{key}.qcow2" for key in target.disk_keys}


def run(ctx: JobContext, made: steps.Made) -> None:
    params = ctx.job.params
    connection: kvm.Host | None = None
    try:
        with ctx.step(steps.STEP_PREPARE):
            point, store, target = steps.checked_point(params)
            host = target.host
            assert host is not None
            made.host_id = host.pk
            with host_errors(host):
                connection = hosts.connect(host)
                staging, names = _prepare(connection, ctx.job, target, point, made)
        assert connection is not None
        with ctx.step(steps.STEP_DISKS), host_errors(host):
            steps.restore_disks(ctx, store, point, staging)
            volumes = _import(connection, ctx.job, host, point, names, staging, made)
        if target.disks_only:
            with ctx.step(steps.STEP_REGISTER_DISKS):
                ctx.show(
                    {
                        "Target Storage Account Name": params["storage_account"],
                        "Storage pool": host.storage_pool,
                        "Config Blob Container Name": host.storage_pool,
                        "Config Blob Name": "",
                    }
                )
                ctx.record(container=host.storage_pool, restored_disks=names)
        else:
            with ctx.step(steps.STEP_VM), host_errors(host):
                vm = _define(connection, ctx.job, target, point, volumes, made)
                ctx.show(
                    {
                        "Virtual machine": vm.name,
                        "Cloud service": host.cloud_service.name,
                        "KVM host": host.name,
                        "Storage pool": host.storage_pool,
                        "Target Storage Account Name": params["storage_account"],
                        "Virtual machine state": "Running" if target.start_vm else "Shut off",
                    }
                )
                if target.start_vm:
                    ctx.show({"Guest agent": _await_agent(connection, vm)})
                ctx.record(restored_vm_id=vm.pk, domain_uuid=vm.domain_uuid)
    finally:
        if connection is not None:
            connection.close()
    ctx.job.result.pop("made", None)
    Job.objects.filter(pk=ctx.job.pk).update(result=ctx.job.result)


def _prepare(
    connection: kvm.Host, job: Job, target: RestoreTarget, point: RecoveryPoint, made: steps.Made
) -> tuple[dict[str, Path], dict[str, str]]:
    """Refuse a name the host already has, make the machine's rows, and name the staging files and volumes."""
    assert target.host is not None
    pool_dir = connection.pool_path(target.host.storage_pool)
    if not target.disks_only:
        if target.vm_name.lower() in _domain_names(connection):
            raise JobFailed(REPLACE_REFUSED, REPLACE_ACTION, code="VmNameTaken")
        _create_machine_rows(job, target, point, made)
    names = volume_names(job, target)
    staging = {key: pool_dir / f".{name}.raw" for key, name in names.items()}
    made.staging = [str(p) for p in staging.values()]
    made.record(job)
    for path in staging.values():
        path.unlink(missing_ok=True)  # a redelivered job starts again from nothing
    return staging, names


def _domain_names(connection: kvm.Host, attempts: int = 3) -> set[str]:
    for attempt in range(attempts):
        try:
            return {d.name.lower() for d in connection.list_domains()}
        except kvm.DomainNotFound:
            if attempt == attempts - 1:
                raise
            # Another domain was undefined while the host listed them: list again.
    return set()


def _create_machine_rows(job: Job, target: RestoreTarget, point: RecoveryPoint, made: steps.Made) -> None:
    """The new machine's rows (shut off, no domain yet), so the portal shows what is being made."""
    host = target.host
    assert host is not None
    sizes = {d["key"]: d["size"] for d in point.disks or []}
    try:
        with transaction.atomic():
            vm = VirtualMachine.objects.create(
                subscription=point.vault.subscription,
                cloud_service=host.cloud_service,
                name=target.vm_name,
                host=host,
                power_state=VirtualMachine.PowerState.STOPPED,
                backup_extension_installed=False,
                endpoint_count=0,
                **steps.copied_from(source_vm(point)),
            )
            for index, key in enumerate(target.disk_keys):
                VirtualDisk.objects.create(
                    vm=vm,
                    kind=VirtualDisk.Kind.OS if index == 0 else VirtualDisk.Kind.DATA,
                    lun=max(index - 1, 0),
                    storage_account=host.storage_account,
                    max_size=sizes[key],
                    target=key,
                    disk_format="qcow2",
                )
    except IntegrityError:
        raise JobFailed(REPLACE_REFUSED, REPLACE_ACTION, code="VmNameTaken") from None
    made.vm_id = vm.pk
    made.record(job)


def _import(
    connection: kvm.Host,
    job: Job,
    host: HypervisorHost,
    point: RecoveryPoint,
    names: dict[str, str],
    staging: dict[str, Path],
    made: steps.Made,
) -> dict[str, Path]:
    sizes = {d["key"]: d["size"] for d in point.disks or []}
    volumes = {}
    for key, name in names.items():
        volume = connection.create_volume(host.storage_pool, name, sizes[key])
        made.volumes.append(str(volume))
        made.record(job)
        connection.import_raw_image(staging[key], volume)
        staging[key].unlink(missing_ok=True)
        volumes[key] = volume
    return volumes


def _define(
    connection: kvm.Host,
    job: Job,
    target: RestoreTarget,
    point: RecoveryPoint,
    volumes: dict[str, Path],
    made: steps.Made,
) -> VirtualMachine:
    uuid = connection.define_restored_domain(point.machine_config, target.vm_name, volumes, start=target.start_vm)
    made.domain_uuid = uuid
    made.record(job)
    assert made.vm_id is not None
    vm = VirtualMachine.objects.get(pk=made.vm_id)
    for disk in vm.disks.all():
        disk.source_path = str(volumes[disk.target])
        disk.save(update_fields=["source_path"])
    vm.domain_uuid = uuid
    vm.power_state = VirtualMachine.PowerState.RUNNING if target.start_vm else VirtualMachine.PowerState.STOPPED
    vm.save(update_fields=["domain_uuid", "power_state"])
    return vm


def _await_agent(connection: kvm.Host, vm: VirtualMachine) -> str:
    """Whether the started guest's agent answers, recorded on the machine as a sync of its host would."""
    if not connection.domain(vm.domain_uuid).agent_channel:
        state, shown = VirtualMachine.AgentState.ABSENT, "No guest agent channel"
    elif connection.wait_for_agent(vm.domain_uuid, AGENT_BOOT_WAIT_S):
        state, shown = VirtualMachine.AgentState.RESPONDING, "Responding"
    else:
        state, shown = (
            VirtualMachine.AgentState.NOT_RESPONDING,
            (f"Not answering after {AGENT_BOOT_WAIT_S:.0f} s: the guest may still be booting"),
        )
    VirtualMachine.objects.filter(pk=vm.pk).update(agent_state=state)
    return shown


def clean_up(made: steps.Made) -> None:
    """Undefine the domain and delete the volumes and staging files a restore made (its rows go after)."""
    for path in made.staging:
        Path(path).unlink(missing_ok=True)
    host = HypervisorHost.objects.filter(pk=made.host_id or 0).first()
    if host is None or not (made.domain_uuid or made.volumes):
        return
    try:
        connection = hosts.connect(host)
        try:
            if made.domain_uuid:
                try:
                    connection.undefine_domain(made.domain_uuid)
                except kvm.DomainNotFound:
                    pass
            for volume in made.volumes:
                connection.delete_volume(Path(volume))
        finally:
            connection.close()
    except kvm.KvmError as error:
        log.warning("the restore's volumes or domain on %s could not be removed: %s", host.name, error)
