"""Backups of a shut-off domain: libvirt cannot start a backup job then, so qemu-nbd serves each image read-only
(with the last checkpoint's bitmap where it is valid). Nothing writes to a shut-off domain's disks, so the
images are the point in time; no new checkpoint is made and the point keeps the last checkpoint's name as its
change id, so the next online backup is an incremental from it (it then reads again what changed before this
point, which is nothing while the domain stayed off).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import checkpoints
from .backup import job_dir, remove_job_files
from .bindings import load
from .connection import Connection
from .errors import KvmError
from .inventory import DomainInfo
from .nbd import Export
from .snapshot import KvmSnapshot, KvmSnapshotDisk


def begin(
    conn: Connection, dom: Any, info: DomainInfo, *, work_dir: Path, since: str | None, disks: Sequence[Any]
) -> KvmSnapshot:
    libvirt = load("libvirt")
    notes = ["The domain is shut off: its disks were read offline (crash-consistent)."]
    for d in disks:
        if d.path is None or d.source_type == "network":
            raise KvmError(
                f"Disk {d.target} of the shut-off domain {info.name} is a network disk, which cannot "
                "be read offline: start the domain and back it up again"
            )
    images = {d.target: d.path for d in disks if d.trackable}
    with conn.errors("checking the checkpoints", info.name):
        problem = checkpoints.problem_offline(dom, since, images) if since else ""
        tracked = checkpoints.checkpoint_disks(dom.checkpointLookupByName(since)) if since and not problem else {}
        domain_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    if problem:
        notes.append(f"Full read instead of an incremental: {problem}.")
    stop_servers(work_dir, info.uuid)
    folder = job_dir(work_dir, info.uuid)
    created_at = datetime.now(UTC)
    exports: list[KvmSnapshotDisk] = []
    try:
        for d in disks:
            bitmap = tracked.get(d.target) if d.trackable else None
            if not d.trackable:
                notes.append(f"Disk {d.target} is {d.untrackable_reason}.")
            socket = _serve(folder, d.target, d.path, d.format, bitmap)
            export = Export(str(socket), d.target, bitmap_context=f"qemu:dirty-bitmap:{bitmap}" if bitmap else None)
            # The change id stays the last checkpoint's (or none, when the chain is broken: the next online
            # backup then starts a new one).
            exports.append(
                KvmSnapshotDisk(d.target, export, since if since and not problem else "", since if bitmap else None)
            )
    except BaseException:
        for e in exports:
            e.export.close()
        stop_servers(work_dir, info.uuid)
        raise

    def end() -> None:
        stop_servers(work_dir, info.uuid)

    return KvmSnapshot(
        id=f"{info.uuid}:offline:{created_at:%Y%m%dT%H%M%S}",
        consistency="crash",
        created_at=created_at,
        domain_xml=domain_xml,
        notes=notes,
        disks=exports,
        end=end,
        keep=lambda: None,
        discard=lambda: None,
    )


def _serve(folder: Path, target: str, path: str, fmt: str, bitmap: str | None) -> Path:
    socket = folder / f"{target}.sock"
    cmd = [
        "qemu-nbd",
        "--read-only",
        "--persistent",
        "--shared=32",
        f"--format={fmt}",
        f"--export-name={target}",
        f"--socket={socket}",
        "--fork",
        f"--pid-file={folder / (target + '.pid')}",
    ]
    if bitmap:
        cmd.append(f"--bitmap={bitmap}")
    cmd.append(path)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise KvmError(f"Cannot read disk {target} ({path}) offline: {proc.stderr.strip() or proc.returncode}")
    return socket


def stop_servers(work_dir: Path, uuid: str) -> None:
    """Stop the qemu-nbd servers of this domain's offline backup (also those of a killed worker)."""
    folder = work_dir / uuid
    if folder.is_dir():
        for pid_file in folder.glob("*.pid"):
            try:
                pid = int(pid_file.read_text().strip())
                if _is_qemu_nbd(pid):
                    os.kill(pid, signal.SIGTERM)
                    _wait_gone(pid)
            except (ValueError, OSError):
                pass
    remove_job_files(work_dir, uuid)


def _wait_gone(pid: int, timeout_s: float = 10.0) -> None:
    # The image stays locked until qemu-nbd exits; starting the domain right after must not race it.
    deadline = time.monotonic() + timeout_s
    while _is_qemu_nbd(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _is_qemu_nbd(pid):
        os.kill(pid, signal.SIGKILL)


def _is_qemu_nbd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "qemu-nbd"
    except OSError:
        return False
