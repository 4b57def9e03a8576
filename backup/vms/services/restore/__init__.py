"""Restore: rebuild a recovery point's disks into a storage account, as a new virtual machine or as disks only.

The RESTORE wizard (and the API and CLI) validate the target first, with the product's messages; the
Restore job validates again (the fabric may have changed meanwhile), then runs three sub-tasks:

    Prepare target        the cloud service (when new), the VM row (Stopped (Deallocated)) and its disk rows
    Restore disks         engine.restore_point into the new disks' image files, with progress; cancellable
    Create virtual machine  an empty resource disk, change tracking, and the VM turns Running

A restored machine is a new machine: unprotected, with no backup extension, and without the special
network configuration (load balancer, several reserved IPs, several NICs) of the source. A failure or a
cancel removes every file and row the job made. "Restore disks only" (the way to bring back a domain
controller of a multi-DC domain) writes the disks under `<storage account>/restore-<job id>/` and
creates no machine; the job's result lists them.

The job is locked on the target's name (`restore-target:<cloud service>:<vm name>`): two restores can
never create the same machine, and a restore never blocks the source machine's backups.

A point of a KVM machine (it carries the domain's XML) is restored only to a KVM host: into the host's storage
pool and, for a new machine, as a new domain on that host in its cloud service, started if asked (`kvm_restore`).

One module per concept: `offers` (what the wizard offers: accounts, cloud services, networks, the calendar of
points), `targets` (a RestoreRequest and its checks, giving a RestoreTarget), `steps` (what both kinds of
Restore job share: step names, the Made record, the point's check and disk restore) and `job` (starting the
Restore job, its work and its clean-up). Everything is named here too, so callers say `restore.start_restore`.
"""

from .job import clean_up_restore, lock_key, run_restore, start_restore
from .offers import (
    SUPPORTED_KINDS,
    CalendarDay,
    CalendarMonth,
    calendar_month,
    cloud_services_for,
    is_multi_dc_controller,
    offers_secondary,
    points_of,
    points_on,
    primary_store_opens,
    restore_region,
    restored_disk_jobs,
    source_vm,
    storage_accounts_for,
    virtual_networks_for,
)
from .steps import (
    DAMAGED,
    DAMAGED_ACTION,
    POINT_GONE,
    POINT_GONE_ACTION,
    STEP_DISKS,
    STEP_PREPARE,
    STEP_REGISTER_DISKS,
    STEP_VM,
    Made,
)
from .targets import (
    BAD_VNET,
    CLOUD_INTERNAL_ERROR,
    DNS_NAME_TAKEN,
    MULTI_DC_PORTAL,
    NO_SECONDARY,
    NO_SUCH_SUBNET,
    NOT_REPLICATED,
    REPLACE_REFUSED,
    RESERVED_IP_CONFLICT,
    SPECIAL_NETWORK_SAME_SERVICE,
    UNSUPPORTED_ACCOUNT,
    WRONG_PAIRED_REGION,
    WRONG_REGION,
    RestoreRequest,
    RestoreTarget,
    is_kvm_point,
    restore_from_secondary,
    validate_restore,
)

__all__ = [
    "BAD_VNET",
    "CLOUD_INTERNAL_ERROR",
    "DAMAGED",
    "DAMAGED_ACTION",
    "DNS_NAME_TAKEN",
    "MULTI_DC_PORTAL",
    "NO_SECONDARY",
    "NO_SUCH_SUBNET",
    "NOT_REPLICATED",
    "POINT_GONE",
    "POINT_GONE_ACTION",
    "REPLACE_REFUSED",
    "RESERVED_IP_CONFLICT",
    "SPECIAL_NETWORK_SAME_SERVICE",
    "STEP_DISKS",
    "STEP_PREPARE",
    "STEP_REGISTER_DISKS",
    "STEP_VM",
    "SUPPORTED_KINDS",
    "UNSUPPORTED_ACCOUNT",
    "WRONG_PAIRED_REGION",
    "WRONG_REGION",
    "CalendarDay",
    "CalendarMonth",
    "Made",
    "RestoreRequest",
    "RestoreTarget",
    "calendar_month",
    "clean_up_restore",
    "cloud_services_for",
    "is_multi_dc_controller",
    "lock_key",
    "offers_secondary",
    "points_of",
    "points_on",
    "primary_store_opens",
    "restore_from_secondary",
    "restore_region",
    "restored_disk_jobs",
    "run_restore",
    "source_vm",
    "start_restore",
    "storage_accounts_for",
    "validate_restore",
    "virtual_networks_for",
    "is_kvm_point",
]
