"""Our checkpoints (libvirt checkpoints = persistent dirty bitmaps in the qcow2 images): which are ours, whether
the one the vault's last point recorded can be trusted, and clearing a broken chain.

libvirt keeps every checkpoint's bitmap recording, so an incremental from an ancestor is still exact: a leftover
child checkpoint (a backup that failed after it began) can simply be dropped. A bitmap QEMU could not save (QEMU
killed) is marked inconsistent and libvirt refuses to use it; so are bitmaps removed behind libvirt's back. Then
the chain is dropped (metadata only, then the bitmaps themselves) and the next point reads the whole disk.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .bindings import load

PREFIX = "azbk-"  # checkpoints this product made; never touch the others


def name_for(point_id: str) -> str:
    """The checkpoint name for a recovery point id (ids are [A-Za-z0-9_-]; libvirt accepts those)."""
    return PREFIX + point_id


def is_ours(name: str) -> bool:
    return name.startswith(PREFIX)


def qmp(dom: Any, command: str, **arguments: Any) -> Any:
    qemu = load("libvirt_qemu")
    msg: dict[str, Any] = {"execute": command}
    if arguments:
        msg["arguments"] = arguments
    return json.loads(qemu.qemuMonitorCommand(dom, json.dumps(msg), 0)).get("return")


@dataclass
class NodeBitmaps:
    node: str  # QEMU node name of the disk's format layer
    bitmaps: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> QMP BlockDirtyInfo


def live_bitmaps(dom: Any) -> dict[str, NodeBitmaps]:
    """Disk target -> its format node and that node's dirty bitmaps, from QEMU itself (running domain)."""
    root = ET.fromstring(dom.XMLDesc(0))
    alias_to_target: dict[str, str] = {}
    for disk in root.findall("devices/disk"):
        alias_el, target_el = disk.find("alias"), disk.find("target")
        if alias_el is not None and target_el is not None:
            alias_to_target[alias_el.get("name", "")] = target_el.get("dev", "")
    out: dict[str, NodeBitmaps] = {}
    for entry in qmp(dom, "query-block") or []:
        parts = (entry.get("qdev") or "").split("/")
        alias = parts[3] if len(parts) > 3 else ""
        inserted = entry.get("inserted")
        if alias in alias_to_target and inserted:
            out[alias_to_target[alias]] = NodeBitmaps(
                inserted.get("node-name", ""), {b["name"]: b for b in inserted.get("dirty-bitmaps", [])}
            )
    return out


def checkpoint_disks(cp: Any) -> dict[str, str]:
    """Disk target -> bitmap name, for the disks this checkpoint tracks."""
    root = ET.fromstring(cp.getXMLDesc(0))
    return {
        d.get("name", ""): d.get("bitmap") or cp.getName()
        for d in root.findall("disks/disk")
        if d.get("checkpoint") == "bitmap"
    }


def problem_online(dom: Any, since: str, targets: Iterable[str]) -> str:
    """Why `since` cannot serve an incremental of these (trackable) disks of a running domain; "" if it can."""
    libvirt = load("libvirt")
    try:
        cp = dom.checkpointLookupByName(since)
    except libvirt.libvirtError:
        return f"the checkpoint {since} of the last recovery point no longer exists on the host"
    tracked = checkpoint_disks(cp)
    nodes = live_bitmaps(dom)
    for target in targets:
        if target not in tracked:
            continue  # added after the checkpoint: this disk alone is read whole
        info = nodes.get(target)
        bitmap = info.bitmaps.get(tracked[target]) if info else None
        if bitmap is None:
            return f"the dirty bitmap of checkpoint {since} is missing on disk {target}"
        if bitmap.get("inconsistent"):
            return (
                f"the dirty bitmap of checkpoint {since} on disk {target} is inconsistent (QEMU stopped "
                "without saving it)"
            )
        if not bitmap.get("recording", True) or bitmap.get("busy"):
            return f"the dirty bitmap of checkpoint {since} on disk {target} is not recording"
    return ""


def problem_offline(dom: Any, since: str, images: dict[str, str]) -> str:
    """Like problem_online for a shut-off domain: reads the bitmaps from the qcow2 images (target -> path)."""
    libvirt = load("libvirt")
    try:
        cp = dom.checkpointLookupByName(since)
    except libvirt.libvirtError:
        return f"the checkpoint {since} of the last recovery point no longer exists on the host"
    tracked = checkpoint_disks(cp)
    for target, path in images.items():
        if target not in tracked:
            continue
        flags = image_bitmaps(path).get(tracked[target])
        if flags is None:
            return f"the dirty bitmap of checkpoint {since} is missing on disk {target}"
        if "in-use" in flags:
            return (
                f"the dirty bitmap of checkpoint {since} on disk {target} is inconsistent (QEMU stopped "
                "without saving it)"
            )
        if "auto" not in flags:
            return f"the dirty bitmap of checkpoint {since} on disk {target} is not recording"
    return ""


def image_bitmaps(path: str) -> dict[str, list[str]]:
    """Bitmap name -> flags ("auto" = recording, "in-use" = not saved cleanly) of a qcow2 image not in use."""
    proc = subprocess.run(
        ["qemu-img", "info", "--output=json", "--force-share", path], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        return {}
    data = json.loads(proc.stdout).get("format-specific", {}).get("data", {})
    return {b["name"]: list(b.get("flags", [])) for b in data.get("bitmaps", [])}


def drop(dom: Any, keep: str | None, *, running: bool) -> list[str]:
    """Delete every checkpoint of ours but `keep`, and our bitmaps no remaining checkpoint owns.

    Normal deletion (libvirt removes the bitmap) first; metadata-only when the bitmap is already broken or
    gone, followed by removing what is left of the bitmaps in QEMU. Leaves first: libvirt 9.0 once crashed on
    deleting a parent whose child deletion had failed. Returns the names deleted.
    """
    libvirt = load("libvirt")
    deleted = []
    while True:
        leaves = [
            cp
            for cp in dom.listAllCheckpoints(libvirt.VIR_DOMAIN_CHECKPOINT_LIST_LEAVES)
            if is_ours(cp.getName()) and cp.getName() != keep
        ]
        if not leaves:
            others = [cp for cp in dom.listAllCheckpoints(0) if is_ours(cp.getName()) and cp.getName() != keep]
            if not others:
                break
            leaves = others  # `keep` is a child of one of them: deleting the parent is fine then
        for cp in leaves:
            name = cp.getName()
            try:
                cp.delete(0)
            except libvirt.libvirtError:
                cp.delete(libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)
            deleted.append(name)
    if running:
        _remove_orphan_bitmaps(dom, keep)
    return deleted


def _remove_orphan_bitmaps(dom: Any, keep: str | None) -> None:
    libvirt = load("libvirt")
    kept: set[str] = set()
    if keep:
        try:
            kept = set(checkpoint_disks(dom.checkpointLookupByName(keep)).values())
        except libvirt.libvirtError:
            pass
    for nodes in live_bitmaps(dom).values():
        for name in nodes.bitmaps:
            if is_ours(name) and name not in kept:
                qmp(dom, "block-dirty-bitmap-remove", node=nodes.node, name=name)
