"""Errors of the KVM fabric; every message is one a person can act on (no libvirt tracebacks)."""


class KvmError(Exception):
    """Anything a host refused or could not do."""


class HostUnavailable(KvmError):
    """libvirtd could not be reached, or the connection was lost mid-operation (the daemon restarted)."""


class DomainNotFound(KvmError):
    """The domain no longer exists on its host."""


class PoolNotFound(KvmError):
    """The storage pool named for restored disks does not exist (or is not active) on the host."""


class BackupBusy(KvmError):
    """Another backup job of this domain is running and is not ours to end."""
