"""What the portal lists of a domain: state, size, disks (with allocation and whether checkpoints can track
them) and the guest agent, read from the domain XML and a few cheap calls."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from .bindings import load

AGENT_CHANNEL = "org.qemu.guest_agent.0"
MAX_DATA_DISKS = 16

_STATES = {
    0: "no state",
    1: "running",
    2: "running",
    3: "paused",
    4: "in shutdown",
    5: "shut off",
    6: "crashed",
    7: "suspended",
}
_LINUX_HINTS = (
    "linux",
    "debian",
    "ubuntu",
    "fedora",
    "redhat",
    "rhel",
    "centos",
    "rocky",
    "alma",
    "suse",
    "alpine",
    "archlinux",
    "gentoo",
    "cirros",
    "oracle",
    "mageia",
    "mandriva",
    "slackware",
)


@dataclass(frozen=True)
class DiskInfo:
    target: str  # "vda": the disk's stable key in snapshots and manifests
    device_index: int  # 0 = the first disk in the domain XML (the portal calls it the OS disk)
    path: str | None  # image file or block device; None for a network disk
    source_type: str  # "file" | "block" | "network" | "volume"
    format: str  # "qcow2" | "raw" | ...
    capacity: int  # virtual size in bytes
    allocation: int  # bytes the image uses on the host (what billing counts)
    trackable: bool  # qcow2 file: checkpoints (dirty bitmaps) work; else every backup reads the whole disk
    untrackable_reason: str = ""  # why not, in words for the registration warning


@dataclass(frozen=True)
class DomainInfo:
    uuid: str
    name: str
    state: str  # "running" | "paused" | "shut off" | "crashed" | ...
    vcpus: int
    memory_mib: int
    disks: tuple[DiskInfo, ...]
    agent_channel: bool  # an org.qemu.guest_agent.0 virtio-serial channel is configured
    agent_responds: bool  # guest-ping answered within the agent timeout (False when shut off)
    os_type: str  # "linux" | "windows" | "" (from libosinfo metadata when present)

    @property
    def running(self) -> bool:
        return self.state in ("running", "paused")

    def disk(self, target: str) -> DiskInfo | None:
        return next((d for d in self.disks if d.target == target), None)


def state_name(dom: Any) -> str:
    state, _reason = dom.state()
    return _STATES.get(state, "no state")


def describe(conn: Any, dom: Any, agent_timeout_s: float) -> DomainInfo:
    root = ET.fromstring(dom.XMLDesc(0))
    state = state_name(dom)
    running = state in ("running", "paused")
    channel = agent_channel(root)
    return DomainInfo(
        uuid=dom.UUIDString(),
        name=dom.name(),
        state=state,
        vcpus=int(root.findtext("vcpu") or 1),
        memory_mib=_memory_mib(root),
        disks=tuple(disks(conn, dom, root)),
        agent_channel=channel is not None,
        agent_responds=running and channel == "connected" and agent_ping(dom, agent_timeout_s),
        os_type=_os_type(root),
    )


def disk_elements(root: ET.Element) -> list[ET.Element]:
    """The domain's disks in XML order (CD-ROMs and floppies are not backed up)."""
    return [d for d in root.findall("devices/disk") if d.get("device", "disk") in ("disk", "lun")]


def disks(conn: Any, dom: Any, root: ET.Element) -> list[DiskInfo]:
    out = []
    for index, el in enumerate(disk_elements(root)):
        target = el.find("target")
        if target is None or not target.get("dev"):
            continue
        dev = target.get("dev", "")
        source_type = el.get("type", "file")
        driver = el.find("driver")
        fmt = (driver.get("type") if driver is not None else None) or "raw"
        path = source_path(conn, el)
        capacity, allocation = _sizes(dom, dev)
        reason = untrackable_reason(source_type, fmt, path)
        out.append(
            DiskInfo(
                target=dev,
                device_index=index,
                path=path,
                source_type=source_type,
                format=fmt,
                capacity=capacity,
                allocation=allocation,
                trackable=not reason,
                untrackable_reason=reason,
            )
        )
    return out


def source_path(conn: Any, disk: ET.Element) -> str | None:
    source = disk.find("source")
    if source is None:
        return None
    kind = disk.get("type", "file")
    if kind == "file":
        return source.get("file")
    if kind == "block":
        return source.get("dev")
    if kind == "volume" and source.get("pool") and source.get("volume"):
        libvirt = load("libvirt")
        try:
            return str(
                conn.storagePoolLookupByName(source.get("pool")).storageVolLookupByName(source.get("volume")).path()
            )
        except libvirt.libvirtError:
            return None
    return None


def untrackable_reason(source_type: str, fmt: str, path: str | None) -> str:
    if source_type == "network" or path is None:
        return "a network disk: libvirt cannot keep a checkpoint of it, so every backup reads the whole disk"
    if source_type == "block":
        return "a block device: libvirt cannot keep a checkpoint of it, so every backup reads the whole disk"
    if fmt != "qcow2":
        return (
            f"a {fmt} image: checkpoints (dirty bitmaps) need qcow2, so every backup reads the whole disk; "
            "convert it to qcow2 to back up only the changes"
        )
    return ""


def _sizes(dom: Any, target: str) -> tuple[int, int]:
    libvirt = load("libvirt")
    try:
        capacity, allocation, _physical = dom.blockInfo(target, 0)
        return int(capacity), int(allocation)
    except libvirt.libvirtError:
        return 0, 0  # e.g. a network disk of a shut-off domain: libvirt cannot open it


def agent_channel(root: ET.Element) -> str | None:
    """None without a guest agent channel, else its state ("connected", "disconnected"; "" when shut off)."""
    for target in root.findall("devices/channel/target"):
        if target.get("type") == "virtio" and target.get("name") == AGENT_CHANNEL:
            return target.get("state", "")
    return None


def agent_ping(dom: Any, timeout_s: float) -> bool:
    libvirt = load("libvirt")
    qemu = load("libvirt_qemu")
    try:
        reply = qemu.qemuAgentCommand(dom, json.dumps({"execute": "guest-ping"}), max(1, round(timeout_s)), 0)
    except libvirt.libvirtError:
        return False
    return "return" in json.loads(reply or "{}")


def _memory_mib(root: ET.Element) -> int:
    el = root.find("memory")
    if el is None or not (el.text or "").strip():
        return 0
    factor = {
        "b": 1 / 1024**2,
        "bytes": 1 / 1024**2,
        "kib": 1 / 1024,
        "k": 1 / 1024,
        "mib": 1,
        "m": 1,
        "gib": 1024,
        "g": 1024,
    }.get(el.get("unit", "KiB").lower(), 1 / 1024)
    return int(int(el.text or 0) * factor)


def _os_type(root: ET.Element) -> str:
    for el in root.iter():
        if el.tag.endswith("}os") and el.get("id"):
            os_id = el.get("id", "").lower()
            if "microsoft.com" in os_id or "/win" in os_id:
                return "windows"
            if any(hint in os_id for hint in _LINUX_HINTS):
                return "linux"
    return ""
