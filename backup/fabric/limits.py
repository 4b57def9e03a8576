"""Which VMs can be registered for backup, and why not.

Mirrors the 2015 service's limitations. ``registration_problems`` lists every
problem (a portal can show them all); ``first_problem`` is what an operation
fails with: configuration problems first (detected by the service before it
touches the VM), then the ones that surface while installing the extension
(OS, agent, power state) - the order the real registration hit them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import messages as m
from .machines import MachineSpec


@dataclass(frozen=True)
class Limitation:
    code: str
    message: str
    recommended_action: str

    def __str__(self) -> str:
        return self.message


RESOURCE_MANAGER = Limitation(
    "ResourceManagerVmNotSupported", m.RESOURCE_MANAGER_NOT_SUPPORTED, m.RESOURCE_MANAGER_ACTION
)
PREMIUM_STORAGE = Limitation("PremiumStorageNotSupported", m.PREMIUM_STORAGE_NOT_SUPPORTED, m.PREMIUM_STORAGE_ACTION)
TOO_MANY_DATA_DISKS = Limitation("DataDiskLimitExceeded", m.TOO_MANY_DATA_DISKS, m.TOO_MANY_DATA_DISKS_ACTION)
MULTIPLE_RESERVED_IPS = Limitation(
    "MultipleReservedIpsNotSupported", m.MULTIPLE_RESERVED_IPS, m.MULTIPLE_RESERVED_IPS_ACTION
)
RESERVED_IP_NO_ENDPOINT = Limitation(
    "ReservedIpWithoutEndpointNotSupported", m.RESERVED_IP_NO_ENDPOINT, m.RESERVED_IP_NO_ENDPOINT_ACTION
)
MULTIPLE_NICS = Limitation("MultipleNicsNotSupported", m.MULTIPLE_NICS, m.MULTIPLE_NICS_ACTION)
LOAD_BALANCED = Limitation("LoadBalancedVmNotSupported", m.LOAD_BALANCED, m.LOAD_BALANCED_ACTION)
UNSUPPORTED_OS = Limitation("InstallAgentTimeout", m.UNSUPPORTED_OS, m.UNSUPPORTED_OS_ACTION)
NO_VM_AGENT = Limitation("VmAgentNotInstalled", m.NO_VM_AGENT, m.NO_VM_AGENT_ACTION)
VM_NOT_RUNNING = Limitation("VmNotRunning", m.VM_NOT_RUNNING, m.VM_NOT_RUNNING_ACTION)
MULTI_DC_RESTORE = Limitation("MultiDcRestoreNotSupported", m.MULTI_DC_RESTORE, m.MULTI_DC_RESTORE_ACTION)

# Problems found by installing the extension (agents.py raises these).
EXTENSION_INSTALL_CODES = frozenset({UNSUPPORTED_OS.code, NO_VM_AGENT.code, VM_NOT_RUNNING.code})

_WINDOWS_SERVER = re.compile(r"windows server\s+(\d{4})(\s*r2)?", re.IGNORECASE)


def windows_supported(os_version: str) -> bool:
    """Windows Server 2008 R2 or later. 2003 / 2003 R2 / 2008 are not; names
    without a year (e.g. "Windows Server Technical Preview") are newer."""
    match = _WINDOWS_SERVER.search(os_version)
    if match is None:
        return True
    year, r2 = int(match.group(1)), bool(match.group(2))
    return year > 2008 or (year == 2008 and r2)


def configuration_problems(spec: MachineSpec) -> list[Limitation]:
    problems = []
    if spec.deployment_model == "resource_manager":
        problems.append(RESOURCE_MANAGER)
    if spec.storage_type == "Premium_LRS":
        problems.append(PREMIUM_STORAGE)
    if spec.data_disk_count > m.MAX_DATA_DISKS:
        problems.append(TOO_MANY_DATA_DISKS)
    if spec.reserved_ip_count > 1:
        problems.append(MULTIPLE_RESERVED_IPS)
    elif spec.reserved_ip_count == 1 and spec.endpoint_count == 0:
        problems.append(RESERVED_IP_NO_ENDPOINT)
    if spec.nic_count > 1:
        problems.append(MULTIPLE_NICS)
    if spec.load_balanced:
        problems.append(LOAD_BALANCED)
    return problems


def extension_problems(spec: MachineSpec) -> list[Limitation]:
    problems = []
    if spec.os_family == "windows" and not windows_supported(spec.os_version):
        problems.append(UNSUPPORTED_OS)
    if not spec.agent_installed:
        problems.append(NO_VM_AGENT)
    if not spec.is_running:
        problems.append(VM_NOT_RUNNING)
    return problems


def registration_problems(spec: MachineSpec) -> list[Limitation]:
    return configuration_problems(spec) + extension_problems(spec)


def first_problem(spec: MachineSpec) -> Limitation | None:
    problems = registration_problems(spec)
    return problems[0] if problems else None


def restore_problems(spec: MachineSpec) -> list[Limitation]:
    """Restore-time limitations of the original VM (portal restore)."""
    if spec.domain_controller and spec.multi_dc_domain:
        return [MULTI_DC_RESTORE]
    return []
