"""A libvirt host: its domains as the portal lists them, backups of their disks, and restores into its pool.

This is the surface the vms services use; the work is in the modules next to it (connection, inventory,
checkpoints, backup, offline, nbd, restore). Every libvirt failure leaves as a KvmError subclass whose message
a person can act on; HostUnavailable (libvirtd unreachable or gone mid-call) drops the connection, and the next
call of the same Host reconnects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import backup, offline, restore
from .connection import Connection, is_local
from .errors import DomainNotFound, KvmError
from .inventory import DiskInfo, DomainInfo, describe
from .snapshot import KvmSnapshot, KvmSnapshotDisk

__all__ = ["DiskInfo", "DomainInfo", "Host", "KvmSnapshot", "KvmSnapshotDisk"]

DEFAULT_WORK_DIR = Path("/var/lib/libvirt/qemu/azure-backup")


class Host:
    def __init__(self, uri: str, *, agent_timeout_s: float = 5.0, work_dir: Path | None = None) -> None:
        self.uri = uri
        self.agent_timeout_s = agent_timeout_s
        self.work_dir = Path(work_dir) if work_dir else DEFAULT_WORK_DIR
        self._conn = Connection(uri)
        self._conn.get()  # HostUnavailable now rather than at the first call

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # Inventory
    def list_domains(self) -> list[DomainInfo]:
        conn = self._conn.get()
        with self._conn.errors("listing the domains"):
            doms = conn.listAllDomains(0)
        out = []
        for dom in doms:
            try:
                with self._conn.errors("reading a domain"):
                    out.append(describe(conn, dom, self.agent_timeout_s))
            except DomainNotFound:
                continue  # undefined while we listed
        return out

    def domain(self, uuid: str) -> DomainInfo:
        dom = self._lookup(uuid)
        with self._conn.errors("reading the domain", uuid):
            return describe(self._conn.get(), dom, self.agent_timeout_s)

    def pool_path(self, pool: str) -> Path:
        return restore.pool_path(self._conn, pool)

    # Backup
    def begin_backup(
        self,
        uuid: str,
        *,
        checkpoint: str,
        since: str | None,
        disks: Sequence[str] | None = None,
        quiesce: bool = True,
        quiesce_timeout_s: float = 10.0,
    ) -> KvmSnapshot:
        """Fix the point in time of the domain's disks (all of them, or the targets named) and serve them.

        `checkpoint` names the checkpoint this point creates (give it the prefix checkpoints.PREFIX: only
        checkpoints with it are ever deleted); `since` is the change id of the vault's last point, trusted
        only after it is checked (see checkpoints.py). A shut-off domain is read offline.
        """
        self._require_local("back up")
        dom = self._lookup(uuid)
        info = self.domain(uuid)
        since = since or None
        if info.running:
            return backup.begin(
                self._conn,
                dom,
                info,
                work_dir=self.work_dir,
                checkpoint=checkpoint,
                since=since,
                disks=disks,
                quiesce=quiesce,
                quiesce_timeout_s=quiesce_timeout_s,
                agent_timeout_s=self.agent_timeout_s,
            )
        if info.state not in ("shut off", "crashed"):
            raise KvmError(f"Domain {info.name} is {info.state}: back it up once it runs or is shut off")
        return offline.begin(
            self._conn, dom, info, work_dir=self.work_dir, since=since, disks=backup._chosen_disks(info, disks)
        )

    def end_leftover_backup(self, uuid: str) -> bool:
        """End a backup of ours left by a killed worker (job, offline export, frozen guest); True if one was."""
        dom = self._lookup(uuid)
        with self._conn.errors("ending a leftover backup job", uuid):
            ended = backup.end_leftover(dom, self.work_dir) if dom.isActive() else False
        had_files = (self.work_dir / uuid).exists()
        offline.stop_servers(self.work_dir, uuid)
        return ended or had_files

    # Restore
    def create_volume(self, pool: str, name: str, capacity: int, fmt: str = "qcow2") -> Path:
        self._require_local("restore to")
        return restore.create_volume(self._conn, pool, name, capacity, fmt)

    def import_raw_image(self, raw: Path, volume: Path) -> None:
        self._require_local("restore to")
        restore.import_raw_image(self._conn, Path(raw), Path(volume))

    def delete_volume(self, path: Path) -> None:
        restore.delete_volume(self._conn, Path(path))

    def define_restored_domain(self, source_xml: str, name: str, disks: Mapping[str, Path], *, start: bool) -> str:
        return restore.define_domain(self._conn, source_xml, name, {k: Path(v) for k, v in disks.items()}, start=start)

    def undefine_domain(self, uuid: str) -> None:
        restore.undefine(self._conn, self._lookup(uuid))

    def wait_for_agent(self, uuid: str, timeout_s: float) -> bool:
        dom = self._lookup(uuid)
        with self._conn.errors("waiting for the guest agent", uuid):
            return restore.wait_for_agent(dom, timeout_s)

    def _lookup(self, uuid: str) -> Any:
        conn = self._conn.get()
        with self._conn.errors("looking up the domain", uuid):
            return conn.lookupByUUIDString(uuid)

    def _require_local(self, what: str) -> None:
        if not is_local(self.uri):
            raise KvmError(
                f"To {what} domains of {self.uri}, run the backup worker on that host and add it with "
                "a local URI (qemu:///system): disks are read and written over local NBD sockets, "
                "which a remote host does not offer"
            )
