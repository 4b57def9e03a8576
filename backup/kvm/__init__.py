"""The KVM fabric: real virtual machines on libvirt hosts, beside the simulated fabric (backup.fabric).

Plain Python: no Django, Celery, backup.engine or backup.fabric imports (import-linter contracts). The vms app
keeps the inventory in the database and calls this package for everything that touches a host.

The public surface (what the vms services use) is re-exported here; see each module for the how and why.
"""

from .errors import BackupBusy, DomainNotFound, HostUnavailable, KvmError, PoolNotFound
from .host import DiskInfo, DomainInfo, Host

__all__ = ["BackupBusy", "DiskInfo", "DomainInfo", "DomainNotFound", "Host", "HostUnavailable", "KvmError",
           "PoolNotFound"]
