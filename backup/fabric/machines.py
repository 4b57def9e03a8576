"""What the fabric knows about a virtual machine, as a plain dataclass.

The Django ``vms`` app builds a ``MachineSpec`` from its rows; the limitation
checks (limits.py) and the extension installer (agents.py) only look at this,
so they are testable without a database.
"""

from __future__ import annotations

from dataclasses import dataclass

DEPLOYMENT_MODELS = ("classic", "resource_manager")
OS_FAMILIES = ("windows", "linux")
POWER_STATES = ("Running", "Stopped", "Deallocated")
STORAGE_TYPES = ("Standard_LRS", "Standard_GRS", "Standard_ZRS", "Premium_LRS")


@dataclass(frozen=True)
class MachineSpec:
    name: str
    cloud_service: str
    region: str
    deployment_model: str = "classic"  # "classic" | "resource_manager"
    os_family: str = "windows"  # "windows" | "linux"
    os_version: str = "Windows Server 2012 R2"
    power_state: str = "Running"  # "Running" | "Stopped" | "Deallocated"
    agent_installed: bool = True
    agent_version: str | None = "2.6.1198.718"
    size: str = "A2"
    storage_type: str = "Standard_LRS"  # of the VM's disks
    data_disk_count: int = 0
    reserved_ip_count: int = 0
    endpoint_count: int = 1
    nic_count: int = 1
    load_balanced: bool = False
    domain_controller: bool = False
    multi_dc_domain: bool = False

    def __post_init__(self) -> None:
        # Catch typos from callers early: these values drive limitation checks.
        for value, allowed, what in (
            (self.deployment_model, DEPLOYMENT_MODELS, "deployment_model"),
            (self.os_family, OS_FAMILIES, "os_family"),
            (self.power_state, POWER_STATES, "power_state"),
            (self.storage_type, STORAGE_TYPES, "storage_type"),
        ):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, not {value!r}")
        for count in (self.data_disk_count, self.reserved_ip_count, self.endpoint_count, self.nic_count):
            if count < 0:
                raise ValueError("counts cannot be negative")

    @property
    def is_running(self) -> bool:
        return self.power_state == "Running"


def consistency_for(spec: MachineSpec) -> str:
    """Snapshot consistency a backup of this VM gets.

    A stopped VM has no guest to quiesce: crash-consistent (and since nothing
    writes, that is as good as consistent). Running Windows uses VSS:
    application-consistent. Running Linux: file-system consistent.
    """
    if not spec.is_running:
        return "crash"
    return "application" if spec.os_family == "windows" else "file"
