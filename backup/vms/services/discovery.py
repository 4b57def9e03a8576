"""Discovery: a vault finds the subscription's virtual machines in its own region.

It records each one as a NOT_REGISTERED RegisteredItem of the vault, unless another vault has
already registered it (a machine registered with one vault is hidden from every other vault).
Resource Manager machines are listed too: registration is where the product refused them.
Only one discovery runs per vault at a time (the job's lock key). The KVM hosts of the vault's subscription and
region are synced first (services/hosts.py), so their domains are candidates like any machine.
"""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from backup.jobs import locks
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.locks import Subject
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler
from backup.vaults.models import Vault

from ..models import RegisteredItem, VirtualMachine
from . import hosts

VAULT_NOT_ACTIVE = "The backup vault is not active yet; wait until it has been created."
TAKEN_STATUSES = (RegisteredItem.Status.REGISTERING, RegisteredItem.Status.REGISTERED)
# A failed registration installed nothing: the item counts as not registered everywhere (REGISTER offers it again,
# discovery forgets it when its machine is gone, it neither counts on the dashboard nor keeps the vault from
# being deleted), though REGISTERED ITEMS still lists it with its reason.
NOT_REGISTERED_STATUSES = (RegisteredItem.Status.NOT_REGISTERED, RegisteredItem.Status.FAILED)


def registered_items(vault: Vault) -> QuerySet[RegisteredItem]:
    """The vault's registered items (being registered, registered or being unregistered)."""
    return vault.registered_items.exclude(status__in=NOT_REGISTERED_STATUSES)


def require_active(vault: Vault) -> None:
    if vault.status != Vault.Status.ACTIVE:
        raise ValidationError({"__all__": VAULT_NOT_ACTIVE})


def start_discovery(vault: Vault, user=None) -> Job:
    """Queue a Discovery job for the vault; a second one while it runs is recorded as failed."""
    require_active(vault)
    return jobs.start(
        subscription=vault.subscription,
        operation=Operation.DISCOVERY,
        subject=Subject.of_vault(vault),
        lock_key=locks.discovery(vault.pk),
        user=user,
    )


def vms_taken_by_other_vaults(vault: Vault) -> QuerySet:
    """Ids of machines another vault has registered (or is registering)."""
    return (
        RegisteredItem.objects.exclude(vault=vault).filter(status__in=TAKEN_STATUSES, vm__isnull=False).values("vm_id")
    )


def vms_in_region(vault: Vault) -> QuerySet[VirtualMachine]:
    """The vault's candidates: its subscription's machines in its region, not taken by another vault."""
    return (
        VirtualMachine.objects.filter(subscription_id=vault.subscription_id, cloud_service__region=vault.region)
        .exclude(pk__in=vms_taken_by_other_vaults(vault))
        .select_related("cloud_service")
    )


def discover(vault: Vault) -> dict:
    """Record every candidate machine as a discovered item; forget discovered items that are gone,
    moved out of the region or were registered by another vault meanwhile."""
    found = list(vms_in_region(vault))
    known = set(vault.registered_items.values_list("vm_id", flat=True))
    new = [
        RegisteredItem(vault=vault, vm=vm, vm_name=vm.name, cloud_service_name=vm.cloud_service.name)
        for vm in found
        if vm.pk not in known
    ]
    RegisteredItem.objects.bulk_create(new, ignore_conflicts=True)
    stale = vault.registered_items.filter(status__in=NOT_REGISTERED_STATUSES)
    removed, _ = stale.exclude(vm_id__in=[vm.pk for vm in found]).delete()
    return {"virtual_machines_found": len(found), "newly_discovered": len(new), "forgotten": removed}


@handler(Operation.DISCOVERY)
def run_discovery(ctx: JobContext) -> None:
    vault = Vault.objects.get(pk=ctx.vault_id)
    with ctx.step("Discover virtual machines"):
        # KVM hosts are asked first, so their domains are found as they are now; one that cannot be reached
        # keeps its machines as last seen.
        synced = hosts.sync_hosts(vault.subscription_id, vault.region)
        found = discover(vault)
    shown = {"Virtual machines found": found["virtual_machines_found"], "Newly discovered": found["newly_discovered"]}
    unreachable = [f"{result.host}: {result.error}" for result in synced if not result.ok]
    if unreachable:
        shown["KVM hosts not reached"] = " ".join(unreachable)
    ctx.show(shown)
