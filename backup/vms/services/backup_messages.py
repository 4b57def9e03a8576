"""The product's messages of a backup (its error table, verbatim): shared by starting a Backup job, by both
fabrics' targets and by the job itself, so each says the same thing in the same words."""

VM_NO_LONGER_EXISTS = "Could not perform the operation as VM no longer exists."
VM_NO_LONGER_EXISTS_ACTION = "Stop protection and keep the data (stop protection with retain backup data)."
SNAPSHOT_TIMED_OUT = (
    "Could not communicate with the VM agent for snapshot status. Snapshot VM sub task timed out. - "
    "Please see the troubleshooting guide on how to resolve this."
)
SNAPSHOT_TIMED_OUT_ACTION = (
    "The VM agent or the network of the virtual machine did not answer in time. Restart the virtual machine "
    "and retry the backup."
)
AGENT_MISSING = (
    "Virtual machine agent is not present on the virtual machine - Please install the required pre-requisite, "
    "VM agent and restart the operation."
)
AGENT_MISSING_ACTION = "Install the Azure VM agent inside the virtual machine, then retry the backup."
STORE_FULL = "Backup failed: the vault storage is full."
STORE_FULL_ACTION = (
    "Free space in the vault: stop protection and delete the backup data of items you no longer need, or "
    "shorten the retention of the policy, then retry the backup."
)
PROTECTION_STOPPED = "Protection of this item is stopped - Backups run only for protected items."
PROTECTION_STOPPED_ACTION = "Configure protection for the item again, then retry the backup."
VAULT_UNAVAILABLE = "The backup vault's storage cannot be opened - Backup failed with an internal error."
VAULT_UNAVAILABLE_ACTION = "Retry the operation in a few minutes. If the problem persists, contact support."
