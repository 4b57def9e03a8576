"""Pull-mode backups of a running domain: one libvirt call fixes the point in time and creates the next
checkpoint; QEMU then serves each disk over NBD as it was at that moment while the guest keeps writing.

The guest agent freezes the file systems around that call only (about 0.1 s); the thaw is in a finally, and a
worker killed between the two is undone by end_leftover_backup.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from . import checkpoints
from .bindings import load
from .connection import Connection
from .errors import BackupBusy, KvmError
from .inventory import AGENT_CHANNEL, DomainInfo, agent_channel
from .nbd import Export
from .snapshot import KvmSnapshot, KvmSnapshotDisk

SOCKET = "nbd.sock"
_CHECKPOINT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_JOB_OPERATION_BACKUP = 9  # VIR_DOMAIN_JOB_OPERATION_BACKUP (named so in newer bindings only)


def job_dir(work_dir: Path, uuid: str) -> Path:
    """Where one domain's backup keeps its socket and scratch files; QEMU (libvirt-qemu) must write there."""
    path = work_dir / uuid
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        try:
            qemu = pwd.getpwnam("libvirt-qemu")
            for p in (work_dir, path):
                os.chown(p, qemu.pw_uid, qemu.pw_gid)
                os.chmod(p, 0o750)
        except KeyError:
            pass
    return path


def remove_job_files(work_dir: Path, uuid: str) -> None:
    shutil.rmtree(work_dir / uuid, ignore_errors=True)


def backup_job_running(dom: Any) -> bool:
    libvirt = load("libvirt")
    # A monitor command waits until libvirtd has reconnected to QEMU (after a restart it restores the domain's
    # jobs only then); jobStats alone would answer "no job" in the meantime.
    checkpoints.qmp(dom, "query-status")
    stats = dom.jobStats(0)
    return (
        stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE
        and stats.get("operation") == _JOB_OPERATION_BACKUP
    )


def end_leftover(dom: Any, work_dir: Path, *, thaw: bool = True) -> bool:
    """Abort a backup job of ours left running (its worker was killed) and thaw a guest left frozen.

    thaw=False when the agent just failed to answer a ping: asking it again would only wait out another time-out
    (a frozen guest's agent still answers pings).
    """
    libvirt = load("libvirt")
    if thaw:
        _thaw_if_frozen(dom)
    if not backup_job_running(dom):
        return False
    try:
        xml = dom.backupGetXMLDesc(0)
    except libvirt.libvirtError:
        xml = ""
    if str(work_dir) not in xml:
        raise BackupBusy(
            f"Another backup job is running on domain {dom.name()} and it is not this portal's: "
            "wait for it to end (or end it with `virsh domjobabort`) and retry"
        )
    abort(dom)
    return True


def abort(dom: Any, timeout_s: float = 10.0) -> None:
    """End the domain's backup job and wait until it is gone: libvirt ends it asynchronously (when QEMU says
    its block jobs are cancelled), which after a libvirtd restart was seen to take a moment."""
    libvirt = load("libvirt")
    deadline = time.monotonic() + timeout_s
    while backup_job_running(dom):
        try:
            dom.abortJob()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:  # "no job is active": ended meanwhile
                raise
        if time.monotonic() > deadline:
            raise KvmError(
                f"The backup job of domain {dom.name()} did not end within {timeout_s:.0f} s of "
                "aborting it; the next backup ends it"
            )
        time.sleep(0.1)


def _thaw_if_frozen(dom: Any) -> None:
    libvirt = load("libvirt")
    if agent_channel(ET.fromstring(dom.XMLDesc(0))) != "connected":
        return
    qemu = load("libvirt_qemu")
    try:
        status = json.loads(qemu.qemuAgentCommand(dom, '{"execute":"guest-fsfreeze-status"}', 5, 0))
        if status.get("return") == "frozen":
            dom.fsThaw(None, 0)
    except libvirt.libvirtError:
        pass


def begin(
    conn: Connection,
    dom: Any,
    info: DomainInfo,
    *,
    work_dir: Path,
    checkpoint: str,
    since: str | None,
    disks: Sequence[str] | None,
    quiesce: bool,
    quiesce_timeout_s: float,
    agent_timeout_s: float,
) -> KvmSnapshot:
    libvirt = load("libvirt")
    uuid = info.uuid
    chosen = _chosen_disks(info, disks)
    notes: list[str] = []
    if not _CHECKPOINT_NAME.match(checkpoint):
        raise ValueError(f"invalid checkpoint name {checkpoint!r}: letters, digits and _.- only, at most 100")
    if since == checkpoint:
        raise ValueError(f"the new checkpoint {checkpoint!r} must differ from the one of the last point")
    with conn.errors("checking the checkpoints", info.name):
        if end_leftover(dom, work_dir, thaw=info.agent_responds):
            notes.append("A backup job left running by an interrupted backup was ended first.")
        trackable = [d.target for d in chosen if d.trackable]
        problem = checkpoints.problem_online(dom, since, trackable) if since else ""
        if problem:
            notes.append(f"Full read instead of an incremental: {problem}. A new checkpoint chain starts.")
        keep = since if since and not problem else None
        checkpoints.drop(dom, keep, running=True)
        tracked = checkpoints.checkpoint_disks(dom.checkpointLookupByName(keep)) if keep else {}
    for d in chosen:
        if not d.trackable:
            notes.append(f"Disk {d.target} is {d.untrackable_reason}.")
        elif keep and d.target not in tracked:
            notes.append(f"Disk {d.target} is new since checkpoint {keep}: read whole.")
    incremental = {d.target for d in chosen if d.trackable and keep and d.target in tracked}

    folder = job_dir(work_dir, uuid)
    for leftover in folder.iterdir():
        leftover.unlink()
    socket = folder / SOCKET
    backup_xml = _backup_xml(chosen, socket, folder, incremental, keep)
    checkpoint_xml = _checkpoint_xml(checkpoint, info, chosen)
    with conn.errors("saving the domain definition", info.name):
        domain_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    consistency = "crash"
    frozen = False
    try:
        if quiesce:
            frozen, note = _freeze(dom, info, quiesce_timeout_s, agent_timeout_s)
            if note:
                notes.append(note)
        created_at = datetime.now(UTC)
        try:
            with conn.errors("starting the backup job", info.name):
                dom.backupBegin(backup_xml, checkpoint_xml, 0)
        except BaseException:
            remove_job_files(work_dir, uuid)
            raise
        if frozen:
            consistency = "file"
    finally:
        if frozen and not _thaw(dom, agent_timeout_s):
            notes.append("The guest agent did not confirm the thaw; the next backup thaws the guest if needed.")

    # Looked up again: libvirtd may have restarted during the transfer (QEMU kept serving), and the next
    # connection still ends the job.
    def current() -> Any:
        return conn.get().lookupByUUIDString(uuid)

    def end() -> None:
        try:
            with conn.errors("ending the backup job", info.name):
                abort(current())
        finally:
            remove_job_files(work_dir, uuid)

    def keep_new() -> None:
        if keep:
            with conn.errors("deleting the previous checkpoint", info.name):
                checkpoints.drop(current(), checkpoint, running=True)

    def discard_new() -> None:
        with conn.errors("deleting the unused checkpoint", info.name):
            try:
                current().checkpointLookupByName(checkpoint).delete(0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_CHECKPOINT:
                    raise

    try:
        exports = [
            KvmSnapshotDisk(
                d.target,
                Export(
                    str(socket),
                    d.target,
                    bitmap_context=f"qemu:dirty-bitmap:backup-{d.target}" if d.target in incremental else None,
                ),
                checkpoint,
                keep if d.target in incremental else None,
            )
            for d in chosen
        ]
    except BaseException:
        try:
            end()
            discard_new()
        except KvmError:
            pass
        raise
    return KvmSnapshot(
        id=f"{uuid}:{checkpoint}",
        consistency=consistency,
        created_at=created_at,
        domain_xml=domain_xml,
        notes=notes,
        disks=exports,
        end=end,
        keep=keep_new,
        discard=discard_new,
    )


def _chosen_disks(info: DomainInfo, disks: Sequence[str] | None) -> list[Any]:
    if disks is None:
        return list(info.disks)
    unknown = [t for t in disks if info.disk(t) is None]
    if unknown:
        raise KvmError(f"Domain {info.name} has no disk {', '.join(unknown)}")
    return [d for d in info.disks if d.target in disks]


def _backup_xml(chosen: Sequence[Any], socket: Path, folder: Path, incremental: set[str], since: str | None) -> str:
    # libvirt 9.0 wants type='file' and a scratch file per disk (its errors without them say otherwise).
    parts = []
    for d in chosen:
        mode = (
            f" backupmode='incremental' incremental={quoteattr(since or '')}"
            if d.target in incremental
            else " backupmode='full'"
        )
        parts.append(
            f"<disk name={quoteattr(d.target)} backup='yes' type='file'{mode}>"
            f"<scratch file={quoteattr(str(folder / (d.target + '.scratch')))}/></disk>"
        )
    return (
        f"<domainbackup mode='pull'><server transport='unix' socket={quoteattr(str(socket))}/>"
        f"<disks>{''.join(parts)}</disks></domainbackup>"
    )


def _checkpoint_xml(name: str, info: DomainInfo, chosen: Sequence[Any]) -> str:
    chosen_targets = {d.target for d in chosen}
    disks = "".join(
        f"<disk name={quoteattr(d.target)} checkpoint="
        f"'{'bitmap' if d.trackable and d.target in chosen_targets else 'no'}'/>"
        for d in info.disks
    )
    return f"<domaincheckpoint><name>{_escape(name)}</name><disks>{disks}</disks></domaincheckpoint>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _freeze(dom: Any, info: DomainInfo, timeout_s: float, agent_timeout_s: float) -> tuple[bool, str]:
    """Freeze the guest's file systems; (frozen, note for the point when not)."""
    libvirt = load("libvirt")
    if not info.agent_channel:
        return False, (
            f"The domain has no guest agent channel ({AGENT_CHANNEL}): the point is crash-consistent. "
            "Install qemu-guest-agent and add the channel for file-system-consistent points."
        )
    if not info.agent_responds:
        # A hung agent would hold the freeze call for a whole time-out more, and answer it after we gave up.
        return False, (
            "The guest agent is not answering, so it did not freeze the file systems (not connected, or "
            f"no reply within {agent_timeout_s:g} s: is qemu-guest-agent running in the guest?): the point "
            "is crash-consistent."
        )
    try:
        dom.agentSetResponseTimeout(max(1, round(timeout_s)), 0)
    except (libvirt.libvirtError, AttributeError):
        pass
    try:
        frozen = dom.fsFreeze(None, 0)
    except libvirt.libvirtError as exc:
        message = (exc.get_error_message() or str(exc)).strip().rstrip(".")
        return False, f"The guest agent did not freeze the file systems ({message}): the point is crash-consistent."
    if not frozen:
        return False, "The guest agent froze no file system: the point is crash-consistent."
    return True, ""


def _thaw(dom: Any, timeout_s: float) -> bool:
    libvirt = load("libvirt")
    for _attempt in range(3):
        try:
            dom.fsThaw(None, 0)
            return True
        except libvirt.libvirtError:
            continue
    return False
