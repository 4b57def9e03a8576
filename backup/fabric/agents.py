"""The VM agent and the Azure Recovery Services (VMSnapshot) extension.

Registration installs the backup extension through the VM agent. That only
works on a running VM with an agent, on a supported OS; otherwise it fails
with the product's messages (an unsupported Windows simply never answers:
"Install Agent operation timeout").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .limits import Limitation, extension_problems
from .machines import MachineSpec

PUBLISHER = "Microsoft.Azure.RecoveryServices"
WINDOWS_EXTENSION = "VMSnapshot"
LINUX_EXTENSION = "VMSnapshotLinux"
EXTENSION_VERSION = "1.0.9.0"


class ExtensionInstallError(Exception):
    """Installing the extension failed; ``limitation`` says why and what to do."""

    def __init__(self, limitation: Limitation) -> None:
        super().__init__(limitation.message)
        self.limitation = limitation


@dataclass(frozen=True)
class ExtensionInfo:
    publisher: str
    name: str
    version: str
    agent_version: str | None
    installed_at: datetime


def extension_name(spec: MachineSpec) -> str:
    return WINDOWS_EXTENSION if spec.os_family == "windows" else LINUX_EXTENSION


def install_backup_extension(spec: MachineSpec) -> ExtensionInfo:
    """Install (idempotently) the backup extension, or raise ExtensionInstallError."""
    problems = extension_problems(spec)
    if problems:
        raise ExtensionInstallError(problems[0])
    return ExtensionInfo(PUBLISHER, extension_name(spec), EXTENSION_VERSION, spec.agent_version, datetime.now(UTC))


def remove_backup_extension(spec: MachineSpec) -> None:
    """Uninstall on unregistration. Removing from a stopped VM or one without
    an agent is a no-op: there is nothing running to remove it from."""
    return None
