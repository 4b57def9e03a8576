"""The vms app's models, one module per concept: the fabric's inventory, backup policies,
and the protection of machines in vaults (registered items, protected items, recovery points)."""

from .anomaly import BackupFigures, PointAnomaly
from .hosts import HypervisorHost
from .inventory import CloudService, StorageAccount, VirtualDisk, VirtualMachine
from .policy import BackupPolicy
from .protection import ProtectedItem, RecoveryPoint, RegisteredItem
from .replication import SecondaryDeletion

__all__ = [
    "BackupFigures",
    "BackupPolicy",
    "CloudService",
    "HypervisorHost",
    "PointAnomaly",
    "ProtectedItem",
    "RecoveryPoint",
    "RegisteredItem",
    "SecondaryDeletion",
    "StorageAccount",
    "VirtualDisk",
    "VirtualMachine",
]
