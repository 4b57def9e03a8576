"""Registering a KVM domain: its "VM agent" is qemu-guest-agent on its virtio-serial channel.

There is no extension to install: the Register job reads the domain afresh from its host, applies the fabric's
limitations to it (the product's messages: no agent channel, not running, too many data disks), and records what
registration does not refuse but the user must know: an agent that does not answer (crash-consistent points
only), and disks that cannot be change-tracked (every backup reads them whole).
"""

from __future__ import annotations

from backup import kvm
from backup.fabric import limits
from backup.jobs.errors import JobFailed

from ..models import VirtualDisk, VirtualMachine
from . import hosts

AGENT_NOT_RESPONDING = (
    "The guest agent (qemu-guest-agent) of this virtual machine does not answer, so "
    "file-consistent backups are not possible: its recovery points will be crash-consistent. "
    "Start qemu-guest-agent in the guest to get file-consistent points."
)
DISK_NOT_TRACKABLE = "Disk {target} cannot be change-tracked{why}: every backup of it reads the whole disk."
HOST_UNREACHABLE = "The KVM host '{host}' could not be reached: {error}"
DOMAIN_UNREADABLE = "The KVM host '{host}' could not read the virtual machine: {error}"
HOST_UNREACHABLE_ACTION = (
    "Check that libvirtd runs on the host and that the portal's worker can reach it, then "
    "register the virtual machine again."
)
AGENT_LABEL = "qemu-guest-agent"


def refresh(vm: VirtualMachine) -> VirtualMachine | None:
    """The machine as its host reports it now (row and disks updated); None when its domain is gone. JobFailed
    when the host cannot be reached."""
    host = vm.host
    assert host is not None
    try:
        conn = hosts.connect(host)
        try:
            info = conn.domain(vm.domain_uuid)
        finally:
            conn.close()
    except kvm.DomainNotFound:
        return None
    except kvm.HostUnavailable as error:
        raise JobFailed(
            HOST_UNREACHABLE.format(host=host.name, error=error), HOST_UNREACHABLE_ACTION, "HostUnavailable"
        ) from None
    except kvm.KvmError as error:
        raise JobFailed(
            DOMAIN_UNREADABLE.format(host=host.name, error=error), HOST_UNREACHABLE_ACTION, "HostError"
        ) from None
    hosts.update_machine(vm, info, host.storage_account)
    return VirtualMachine.objects.select_related("host", "cloud_service").get(pk=vm.pk)


def notes(vm: VirtualMachine) -> list[str]:
    """What the user must know about protecting this KVM machine (nothing for a simulated one)."""
    if vm.host_id is None:
        return []
    found = []
    if vm.agent_state == VirtualMachine.AgentState.NOT_RESPONDING:
        found.append(AGENT_NOT_RESPONDING)
    for disk in vm.disks.exclude(kind=VirtualDisk.Kind.RESOURCE).order_by("kind", "lun"):
        if not disk.trackable:
            found.append(DISK_NOT_TRACKABLE.format(target=disk.key, why=_why_untracked(disk)))
    return found


def _why_untracked(disk: VirtualDisk) -> str:
    if not disk.source_path:
        return " (a network disk)"
    if disk.source_path.startswith("/dev/"):
        return " (a block device)"
    return f" ({disk.disk_format or 'unknown'} format; only qcow2 image files keep checkpoints)"


def install_backup_extension(vm: VirtualMachine) -> dict:
    """The KVM counterpart of installing the extension: check the agent channel and the power state with the
    product's messages, and say what the job's result shows."""
    problems = limits.extension_problems(vm.spec())
    if problems:
        raise JobFailed(problems[0].message, problems[0].recommended_action, problems[0].code)
    shown = {"Guest agent": f"{AGENT_LABEL}: {vm.get_agent_state_display().lower()}"}
    found = notes(vm)
    if found:
        shown["Notes"] = " ".join(found)
    return shown
