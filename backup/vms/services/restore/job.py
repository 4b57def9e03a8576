"""The Restore job: starting it (locked on the target's name) and its work, with the clean-up of what a failed,
cancelled or lost restore made."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.db import IntegrityError, transaction
from django.urls import reverse

from backup.fabric import layout
from backup.fabric.disks import Disk
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed
from backup.jobs.locks import Subject
from backup.jobs.models import Job, JobStatus, Operation
from backup.jobs.registry import handler
from backup.notifications.models import Notification
from backup.notifications.services import notify
from backup.notifications.times import moment_text

from ...models import CloudService, RecoveryPoint, VirtualDisk, VirtualMachine
from . import kvm_restore
from .offers import source_vm, virtual_networks_for
from .steps import (
    STEP_DISKS,
    STEP_PREPARE,
    STEP_REGISTER_DISKS,
    STEP_VM,
    Made,
    checked_point,
    copied_from,
    restore_disks,
)
from .targets import REPLACE_REFUSED, RestoreRequest, RestoreTarget, validate_restore


def lock_key(target: RestoreTarget) -> str | None:
    if target.disks_only:
        return None
    return locks.restore_target(target.cloud_service_name, target.vm_name)


def start_restore(point: RecoveryPoint, request: RestoreRequest | None = None, *, user=None, **fields) -> Job:
    """Check the request (a RestoreRequest, or its fields as keywords) and queue a Restore job; the user gets
    a "Restore job created" toast."""
    target = validate_restore(point, request or RestoreRequest(**fields))
    vault = point.vault
    with transaction.atomic():
        job = jobs.start(
            subscription=vault.subscription,
            operation=Operation.RESTORE,
            subject=Subject.of_vm(
                vault.pk,
                point.protected_item.vm_id if point.protected_item else None,
                point.vm_name,
                point.protected_item.cloud_service_name if point.protected_item else "",
            ),
            lock_key=lock_key(target),
            params=target.params(),
            user=user,
            busy_message=(
                "Command execution failed - Another restore to this virtual machine name and cloud "
                "service is in progress. Please wait until it has completed, or choose another name."
            ),
        )
        if job.status == JobStatus.IN_PROGRESS and user is not None and user.is_authenticated:
            notify(
                user,
                "Restore job created",
                message=f"Restoring '{job.item_label}' from the recovery point of {moment_text(point.created_at)}.",
                level=Notification.Level.PROGRESS,
                key=f"job-{job.pk}",
                subscription=vault.subscription,
                link_url=reverse("job-detail", args=[job.pk]),
                link_label="VIEW JOB",
            )
    return job


def clean_up_restore(job: Job) -> None:
    """A restore that ended without completing: remove what it had made."""
    made = Made.recorded(job)
    if made is not None:
        _clean_up(made)
        job.result.pop("made", None)
        Job.objects.filter(pk=job.pk).update(result=job.result)


@handler(Operation.RESTORE, cancellable=True, clean_up=clean_up_restore)
def run_restore(ctx: JobContext) -> None:
    """The Restore job's work (see the module docstring)."""
    params = ctx.job.params
    earlier = Made.recorded(ctx.job)
    if earlier is not None:
        _clean_up(earlier)  # a redelivered job: the killed attempt's half-made VM goes first
    made = Made()
    if params.get("host_id"):
        kvm_restore.run(ctx, made)
        return
    with ctx.step(STEP_PREPARE):
        point, store, targets = _prepare(ctx.job, params, made)
    with ctx.step(STEP_DISKS):
        restore_disks(ctx, store, point, targets)
    if params["disks_only"]:
        with ctx.step(STEP_REGISTER_DISKS):
            shown, recorded = disks_result(params, targets)
            ctx.show(shown)
            ctx.record(**recorded)
    else:
        with ctx.step(STEP_VM):
            vm = _finish_vm(made.vm_id)
            ctx.show(
                {
                    "Virtual machine": vm.name,
                    "Cloud service": vm.cloud_service.name,
                    "Target Storage Account Name": params["storage_account"],
                    "Virtual network": params["virtual_network"] or "-",
                    "Subnet": params["subnet"] or "-",
                }
            )
            ctx.record(restored_vm_id=vm.pk)
    ctx.job.result.pop("made", None)
    Job.objects.filter(pk=ctx.job.pk).update(result=ctx.job.result)


def _prepare(job: Job, params: dict, made: Made):
    point, store, target = checked_point(params)
    sizes = {d["key"]: d["size"] for d in point.disks or []}
    if params["disks_only"]:
        made.folder = target.storage_account.folder / f"restore-{job.pk}"
        made.record(job)
        shutil.rmtree(made.folder, ignore_errors=True)  # a redelivered job starts again from nothing
        made.folder.mkdir(parents=True)
        return point, store, {key: made.folder / f"{key}.vhd" for key in target.disk_keys}
    return point, store, _create_machine_rows(job, target, sizes, made)


def _create_machine_rows(job: Job, target: RestoreTarget, sizes: dict[str, int], made: Made) -> dict[str, Path]:
    source = source_vm(target.point)
    vault = target.point.vault
    try:
        with transaction.atomic():
            service = target.cloud_service
            if service is None:
                service = CloudService.objects.create(
                    subscription=vault.subscription,
                    name=target.cloud_service_name,
                    region=target.region,
                    virtual_network=target.virtual_network,
                    subnets=virtual_networks_for(vault, from_secondary=target.from_secondary).get(
                        target.virtual_network, []
                    ),
                )
                made.cloud_service_id = service.pk
            vm = VirtualMachine.objects.create(
                subscription=vault.subscription,
                cloud_service=service,
                name=target.vm_name,
                power_state=VirtualMachine.PowerState.DEALLOCATED,
                agent_installed=True,
                backup_extension_installed=False,
                endpoint_count=0,
                **copied_from(source),
            )
            made.vm_id = vm.pk
            targets = {}
            for key in target.disk_keys:
                kind, lun = (VirtualDisk.Kind.OS, 0) if key == "os" else (VirtualDisk.Kind.DATA, int(key.split("-")[1]))
                disk = VirtualDisk.objects.create(
                    vm=vm, kind=kind, lun=lun, storage_account=target.storage_account, max_size=sizes[key]
                )
                targets[key] = disk.path
    except IntegrityError:
        made.vm_id = made.cloud_service_id = None
        raise JobFailed(
            REPLACE_REFUSED, "Choose another name for the restored virtual machine.", code="VmNameTaken"
        ) from None
    made.record(job)
    for path in targets.values():
        # Ids come back after a rolled-back database (tests, restores of the portal's database): never adopt
        # an old image that happens to sit at the new disk's path.
        if path.exists():
            Disk(path).delete()
        path.parent.mkdir(parents=True, exist_ok=True)
    return targets


def disks_result(params: dict, targets: dict[str, Path]) -> tuple[dict, dict]:
    """What a "restore disks only" job shows, and what it records (for the item's page of restored disks)."""
    folder = next(iter(targets.values())).parent.name if targets else ""
    shown = {
        "Target Storage Account Name": params["storage_account"],
        "Config Blob Container Name": folder,
        "Config Blob Name": "",
    }
    # Blob names within the storage account: a job's result never shows where the server keeps them.
    return shown, {
        "container": folder,
        "restored_disks": {key: f"{path.parent.name}/{path.name}" for key, path in targets.items()},
    }


def _finish_vm(vm_id: int) -> VirtualMachine:
    vm = VirtualMachine.objects.select_related("cloud_service").get(pk=vm_id)
    for disk in vm.disks.all():
        Disk.open(disk.path)  # starts change tracking, as for any new disk
    account = vm.disks.first().storage_account
    resource = VirtualDisk.objects.create(
        vm=vm, kind=VirtualDisk.Kind.RESOURCE, storage_account=account, max_size=layout.RESOURCE_DISK_MAX
    )
    if resource.path.exists():
        Disk(resource.path).delete()
    Disk.create(resource.path, layout.RESOURCE_DISK_MAX)
    VirtualMachine.objects.filter(pk=vm.pk).update(power_state=VirtualMachine.PowerState.RUNNING)
    vm.power_state = VirtualMachine.PowerState.RUNNING
    return vm


def _clean_up(made: Made) -> None:
    """Remove what a failed or cancelled restore made: files first, then rows (the VM before its cloud service)."""
    if made.host_id is not None:
        kvm_restore.clean_up(made)
    if made.folder is not None:
        shutil.rmtree(made.folder, ignore_errors=True)
    if made.vm_id is not None:
        for disk in VirtualDisk.objects.filter(vm_id=made.vm_id):
            if disk.path.exists():
                Disk(disk.path).delete()
        VirtualMachine.objects.filter(pk=made.vm_id).delete()
    if made.cloud_service_id is not None:
        CloudService.objects.filter(pk=made.cloud_service_id, virtual_machines__isnull=True).delete()
