"""User-facing texts of fabric limitations, in one place.

Where the 2015 Azure Backup product had an exact message, it is used
verbatim so the portal replica reads like the original; apps and tests import
these constants rather than copying strings.
"""

from __future__ import annotations

# -- Registration: VM configuration not supported ----------------------------
RESOURCE_MANAGER_NOT_SUPPORTED = "Backup of Azure Resource Manager based (IaaS V2) virtual machines is not supported."
RESOURCE_MANAGER_ACTION = (
    "Only classic (IaaS V1) virtual machines can be backed up. Use a classic virtual "
    "machine, or protect this machine by other means."
)

PREMIUM_STORAGE_NOT_SUPPORTED = (
    "Virtual machines having virtual hard disks stored on Premium storage are not supported for backup"
)
PREMIUM_STORAGE_ACTION = "Store the virtual machine's disks on a Standard storage account."

TOO_MANY_DATA_DISKS = (
    "Number of data disks attached to the virtual machine exceeded the supported limit - "
    "Please detach some data disks on this virtual machine and retry the operation. "
    "Azure backup supports up to 16 data disks attached to an Azure virtual machine for backup"
)
TOO_MANY_DATA_DISKS_ACTION = "Detach data disks until at most 16 remain, then retry the operation."
MAX_DATA_DISKS = 16

MULTIPLE_RESERVED_IPS = "Backup of virtual machines with multiple reserved IPs is not supported."
MULTIPLE_RESERVED_IPS_ACTION = "Release the extra reserved IPs so the virtual machine has at most one."

RESERVED_IP_NO_ENDPOINT = "Backup of virtual machines with a reserved IP and no end-point defined is not supported."
RESERVED_IP_NO_ENDPOINT_ACTION = "Define an endpoint on the virtual machine or release its reserved IP."

MULTIPLE_NICS = "Backup of a virtual machine with more than one NIC is not supported."
MULTIPLE_NICS_ACTION = "Remove the additional network interfaces so the virtual machine has one NIC."

LOAD_BALANCED = "Backup of a virtual machine with a load balancer configuration is not supported."
LOAD_BALANCED_ACTION = "Remove the virtual machine from the load-balanced set."

# -- Registration: extension installation ------------------------------------
EXTENSION_INSTALL_FAILED_PREFIX = "Failed to install the Azure Recovery Services extension on the selected item - "

UNSUPPORTED_OS = "Registration failed with Install Agent operation timeout"
UNSUPPORTED_OS_ACTION = "Check that the operating system is supported: Windows Server 2008 R2 or later."

NO_VM_AGENT = (
    EXTENSION_INSTALL_FAILED_PREFIX + "VM Agent is a pre-requisite for Azure Recovery Services Extension. "
    "Please install the Azure VM agent and restart the registration operation"
)
NO_VM_AGENT_ACTION = "Install the Azure VM Agent inside the virtual machine, then register the virtual machine again."

VM_NOT_RUNNING = (
    "Azure VM role is not in a state to install extension \u2013 "
    "Please check if the VM is in the Running state. "
    "Azure Recovery Services extension requires the VM to be Running."
)
VM_NOT_RUNNING_ACTION = "Start the virtual machine and retry the registration."

# -- Restore ---------------------------------------------------------------------
MULTI_DC_RESTORE = (
    "Restoring a domain controller that is part of a multi-domain-controller "
    "environment is not supported from the portal."
)
MULTI_DC_RESTORE_ACTION = (
    "Restore the virtual machine with PowerShell and follow the domain controller "
    "recovery guidance (non-authoritative restore)."
)
