"""The KVM fabric: real virtual machines on libvirt hosts, beside the simulated fabric (backup.fabric).

Plain Python: no Django, Celery, backup.engine or backup.fabric imports (import-linter contracts). The vms app
keeps the inventory in the database and calls this package for everything that touches a host. The libvirt and
libnbd bindings are imported only when a host is used (bindings.py).

Modules (one concept each):

* ``host``        - ``Host``: the surface the vms services use (inventory, backup, restore).
* ``connection``  - the libvirt connection: reopened after libvirtd went away, errors in words.
* ``inventory``   - ``DomainInfo`` / ``DiskInfo`` from the domain XML, the guest agent's channel and ping.
* ``checkpoints`` - our checkpoints (prefix ``azbk-``): validating the last one, dropping a broken chain.
* ``backup``      - pull-mode backup of a running domain (freeze, backupBegin with the next checkpoint, thaw).
* ``offline``     - a shut-off domain's images served read-only by qemu-nbd.
* ``nbd``         - reading an export with libnbd: data and dirty extents, a connection per thread.
* ``snapshot``    - ``KvmSnapshot`` / ``KvmSnapshotDisk``: what backup.engine reads.
* ``restore``     - volumes in a storage pool, importing a restored image, defining the new domain.

A backup, as the vms services run it::

    with host.begin_backup(uuid, checkpoint=checkpoint_name(point_id), since=last_change_id) as snapshot:
        engine.backup_snapshot(store, ..., snapshot=snapshot, base=last_manifest)

Leaving the block normally ends the libvirt job and deletes the checkpoint `since` named (one checkpoint per
chain); leaving it with an exception (failure, Cancelled) ends the job and deletes the new checkpoint. Without
the block: ``snapshot.complete()`` / ``snapshot.abandon()``; ``snapshot.delete()`` only ends the job, and the
next begin_backup deletes whatever checkpoints of ours it no longer needs.

Remote hosts (``qemu+ssh://``): inventory works; backups and restores need the worker on the host itself (the
disks are read and written over local sockets), and say so.
"""

from .checkpoints import PREFIX as CHECKPOINT_PREFIX
from .checkpoints import name_for as checkpoint_name
from .errors import BackupBusy, DomainNotFound, HostUnavailable, KvmError, PoolNotFound
from .host import DiskInfo, DomainInfo, Host, KvmSnapshot, KvmSnapshotDisk

__all__ = [
    "CHECKPOINT_PREFIX",
    "BackupBusy",
    "DiskInfo",
    "DomainInfo",
    "DomainNotFound",
    "Host",
    "HostUnavailable",
    "KvmError",
    "KvmSnapshot",
    "KvmSnapshotDisk",
    "PoolNotFound",
    "checkpoint_name",
]
