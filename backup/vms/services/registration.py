"""Registration: one Register job per machine installs the backup extension through the VM agent.

The checks run in the job, in the order the product hit them: the machine's configuration first
(Resource Manager, Premium storage, data disks, networking), then whatever installing the
extension runs into (operating system, VM agent, power state). Each failure ends the job with the
product's message and a recommended action, and marks the item "Registration failed".
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from backup.fabric import agents, limits
from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import INTERNAL_ERROR, JobFailed
from backup.jobs.locks import Subject
from backup.jobs.models import Job, JobStatus, Operation
from backup.jobs.registry import handler
from backup.vaults import services as vault_services
from backup.vaults.models import Vault

from ..models import RegisteredItem, VirtualMachine
from . import kvm_registration
from .discovery import NOT_REGISTERED_STATUSES, TAKEN_STATUSES, require_active, vms_in_region

REGISTERED_ELSEWHERE = "The virtual machine is already registered with another backup vault."
REGISTERED_ELSEWHERE_ACTION = "Protect it from the vault it is registered with, or unregister it there first."
VM_NOT_FOUND = "Azure Virtual Machine Not Found."
VM_NOT_FOUND_ACTION = "Discover the virtual machines again; the machine may have been deleted."


def registrable_items(vault: Vault) -> QuerySet[RegisteredItem]:
    """Discovered machines of the vault's region that can be (re-)registered: what REGISTER offers."""
    return (
        vault.registered_items.filter(status__in=NOT_REGISTERED_STATUSES, vm__in=vms_in_region(vault))
        .select_related("vm", "vm__cloud_service")
        .order_by("vm_name", "cloud_service_name")
    )


def _candidates(vault: Vault, vm_ids) -> list[VirtualMachine]:
    try:
        wanted = {int(pk) for pk in vm_ids}
    except (TypeError, ValueError):
        raise ValidationError({"vm_ids": "Virtual machine ids must be numbers."}) from None
    if not wanted:
        raise ValidationError({"vm_ids": "Choose at least one virtual machine to register."})
    vms = list(vms_in_region(vault).filter(pk__in=wanted))
    missing = sorted(wanted - {vm.pk for vm in vms})
    if missing:
        raise ValidationError(
            {
                "vm_ids": (
                    f"These virtual machines cannot be registered with this vault: {', '.join(map(str, missing))}. "
                    f"Only machines of your subscription in the vault's region ({vault.region}) "
                    "that are not registered with another vault can be registered."
                )
            }
        )
    registered = vault.registered_items.filter(vm__in=vms, status=RegisteredItem.Status.REGISTERED)
    names = sorted(str(item) for item in registered)
    if names:
        raise ValidationError({"vm_ids": f"Already registered with this vault: {', '.join(names)}."})
    return vms


def start_registration(vault: Vault, vm_ids, user=None) -> list[Job]:
    """One Register job per machine. Machines not yet discovered are discovered on the way, as
    Register-AzureRmBackupContainer did."""
    require_active(vault)
    vms = _candidates(vault, vm_ids)
    started = []
    with transaction.atomic():
        for vm in vms:
            item, _ = RegisteredItem.objects.get_or_create(
                vault=vault, vm=vm, defaults={"vm_name": vm.name, "cloud_service_name": vm.cloud_service.name}
            )
            job = jobs.start(
                subscription=vault.subscription,
                operation=Operation.REGISTER,
                subject=Subject.of_vm(vault.pk, vm.pk, vm.name, vm.cloud_service.name),
                lock_key=locks.vm(vm.pk),
                user=user,
                params={"registered_item_id": item.pk, "cloud_service": vm.cloud_service.name},
            )
            if job.status == JobStatus.IN_PROGRESS:
                RegisteredItem.objects.filter(pk=item.pk).update(
                    status=RegisteredItem.Status.REGISTERING, status_reason=""
                )
            started.append(job)
    return started


def clean_up_registration(job: Job) -> None:
    """A Register job that ended without completing leaves its item Failed with the job's reason, so no row
    stays "Registering" (an unexpected error shows the product's internal-error text, without its type)."""
    reason = (
        INTERNAL_ERROR
        if job.error_code == "InternalError"
        else (job.error_message or "The registration job did not complete.")
    )
    RegisteredItem.objects.filter(pk=job.params["registered_item_id"]).update(
        status=RegisteredItem.Status.FAILED, status_reason=reason
    )


@handler(Operation.REGISTER, clean_up=clean_up_registration)
def register(ctx: JobContext) -> None:
    """The Register job's work (see the module docstring)."""
    item = RegisteredItem.objects.select_related("vault", "vm", "vm__cloud_service").get(
        pk=ctx.job.params["registered_item_id"]
    )
    vm = item.vm
    if vm is None:
        raise JobFailed(VM_NOT_FOUND, VM_NOT_FOUND_ACTION, "VmNotFound")
    with ctx.step("Check the virtual machine's configuration"):
        if vm.host_id is not None:
            # A KVM domain is checked as its host reports it now, not as the last sync saw it.
            vm = kvm_registration.refresh(vm)
            if vm is None:
                raise JobFailed(VM_NOT_FOUND, VM_NOT_FOUND_ACTION, "VmNotFound")
        taken = RegisteredItem.objects.filter(vm=vm, status__in=TAKEN_STATUSES).exclude(vault=item.vault)
        if taken.exists():
            raise JobFailed(REGISTERED_ELSEWHERE, REGISTERED_ELSEWHERE_ACTION, "AlreadyRegistered")
        spec = vm.spec()
        problems = limits.configuration_problems(spec)
        if problems:
            raise JobFailed(problems[0].message, problems[0].recommended_action, problems[0].code)
    with ctx.step("Install the Azure Recovery Services extension"):
        shown = _install_extension(vm, spec)
    # A KVM machine registers with notes (crash-consistent only, disks read whole): the item shows them.
    notes = kvm_registration.notes(vm)
    with transaction.atomic():
        VirtualMachine.objects.filter(pk=vm.pk).update(backup_extension_installed=True)
        RegisteredItem.objects.filter(pk=item.pk).update(
            status=RegisteredItem.Status.REGISTERED, status_reason=" ".join(notes), registered_at=timezone.now()
        )
        # The first registration fixes the vault's storage redundancy for good.
        vault_services.lock_redundancy(item.vault)
    ctx.show(shown)


def _install_extension(vm: VirtualMachine, spec) -> dict:
    if vm.host_id is not None:
        return kvm_registration.install_backup_extension(vm)
    try:
        info = agents.install_backup_extension(spec)
    except agents.ExtensionInstallError as error:
        problem = error.limitation
        raise JobFailed(problem.message, problem.recommended_action, problem.code) from None
    return {"Extension": f"{info.publisher}.{info.name}", "Extension version": info.version}
