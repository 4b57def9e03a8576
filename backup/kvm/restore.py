"""Restores onto a host: new volumes in its storage pool, a restored raw image written into one, and a new
domain defined from the definition saved with the point (new name, no UUID, new MAC addresses, its disks
pointing at the new images, no checkpoint metadata)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from .bindings import load
from .connection import Connection
from .errors import KvmError, PoolNotFound
from .inventory import agent_ping, disk_elements

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,62}$")


def pool(conn: Connection, name: str) -> Any:
    libvirt = load("libvirt")
    try:
        found = conn.get().storagePoolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise PoolNotFound(f"The storage pool {name} does not exist on {conn.uri}") from None
        raise conn.translate(exc, "looking up the storage pool") from None
    with conn.errors("looking up the storage pool"):
        if not found.isActive():
            raise PoolNotFound(
                f"The storage pool {name} on {conn.uri} is not active: start it (virsh pool-start {name})"
            )
    return found


def pool_path(conn: Connection, name: str) -> Path:
    found = pool(conn, name)
    with conn.errors("reading the storage pool"):
        target = ET.fromstring(found.XMLDesc(0)).findtext("target/path")
    if not target:
        raise KvmError(
            f"The storage pool {name} on {conn.uri} has no target path (only directory pools can hold restored disks)"
        )
    return Path(target)


def create_volume(conn: Connection, pool_name: str, name: str, capacity: int, fmt: str) -> Path:
    if not _NAME.match(name):
        raise ValueError(f"invalid volume name {name!r}")
    found = pool(conn, pool_name)
    libvirt = load("libvirt")
    xml = (
        f"<volume><name>{escape(name)}</name><capacity unit='bytes'>{int(capacity)}</capacity>"
        f"<target><format type='{escape(fmt)}'/></target></volume>"
    )
    try:
        vol = found.createXML(xml, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST:
            raise KvmError(f"A volume named {name} already exists in the storage pool {pool_name}") from None
        raise conn.translate(exc, "creating a volume") from None
    return Path(vol.path())


def delete_volume(conn: Connection, path: Path) -> None:
    libvirt = load("libvirt")
    try:
        conn.get().storageVolLookupByPath(str(path)).delete(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
            raise conn.translate(exc, "deleting a volume") from None
        path.unlink(missing_ok=True)  # not (or no longer) known to a pool


def import_raw_image(conn: Connection, raw: Path, volume: Path) -> None:
    """Write the data of a restored raw (sparse) image into a new, empty volume; holes stay unallocated."""
    proc = subprocess.run(
        ["qemu-img", "convert", "-n", "-W", "-m", "8", "-f", "raw", "-O", _format(volume), str(raw), str(volume)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise KvmError(f"Writing the restored disk into {volume} failed: {proc.stderr.strip()}")
    libvirt = load("libvirt")
    try:
        conn.get().storageVolLookupByPath(str(volume)).storagePoolLookupByVolume().refresh(0)
    except libvirt.libvirtError:
        pass  # only the pool's allocation figures lag


def _format(volume: Path) -> str:
    proc = subprocess.run(["qemu-img", "info", "--output=json", str(volume)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise KvmError(f"{volume} is not a disk image: {proc.stderr.strip()}")
    return str(json.loads(proc.stdout)["format"])


def restored_xml(source_xml: str, name: str, disks: Mapping[str, Path]) -> str:
    """The backed-up definition, made a new machine: everything that identifies the old one goes."""
    root = ET.fromstring(source_xml)
    root.find("name").text = name  # type: ignore[union-attr]
    for tag in ("uuid", "genid"):
        for el in root.findall(tag):
            root.remove(el)
    devices = root.find("devices")
    if devices is None:
        raise KvmError("The saved domain definition has no devices")
    for el in disk_elements(root):
        target = el.find("target")
        dev = target.get("dev", "") if target is not None else ""
        if dev not in disks:
            devices.remove(el)  # not restored: the new domain does not get the old machine's disk
            continue
        el.set("type", "file")
        for child in list(el):
            if child.tag in ("source", "backingStore", "auth", "mirror"):
                el.remove(child)
        driver = el.find("driver")
        if driver is None:
            driver = ET.Element("driver", name="qemu")
            el.insert(0, driver)
        driver.set("type", "qcow2")
        el.insert(list(el).index(driver) + 1, ET.Element("source", file=str(disks[dev])))
    for iface in devices.findall("interface"):
        for child in list(iface):
            if child.tag in ("mac", "target"):
                iface.remove(child)
    for channel in devices.findall("channel"):
        channel_source = channel.find("source")
        if channel.get("type") == "unix" and channel_source is not None:
            channel.remove(channel_source)  # libvirt makes a path per domain
    for chardev in devices.findall("serial") + devices.findall("console"):
        if chardev.get("type") == "file":
            # Its log file belongs to the old machine (virtlogd keeps it open): a console of its own instead.
            chardev.set("type", "pty")
            for child in list(chardev):
                if child.tag in ("source", "log"):
                    chardev.remove(child)
    for graphics in devices.findall("graphics"):
        if graphics.get("autoport") == "no" or graphics.get("port"):
            graphics.attrib.pop("port", None)
            graphics.set("autoport", "yes")
    nvram = root.find("os/nvram")
    if nvram is not None:
        nvram.text = None  # libvirt makes a fresh variable store named after the new domain
    return ET.tostring(root, encoding="unicode")


def define_domain(conn: Connection, source_xml: str, name: str, disks: Mapping[str, Path], *, start: bool) -> str:
    if not _NAME.match(name):
        raise ValueError(f"invalid domain name {name!r}: letters, digits and _.+- only, at most 63")
    libvirt = load("libvirt")
    c = conn.get()
    try:
        c.lookupByName(name)
        raise KvmError(f"A domain named {name} already exists on {conn.uri}")
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise conn.translate(exc, "looking up the domain name") from None
    xml = restored_xml(source_xml, name, disks)
    with conn.errors("defining the restored domain", name):
        dom = c.defineXML(xml)
    if start:
        try:
            with conn.errors("starting the restored domain", name):
                dom.create()
        except KvmError:
            with conn.errors("undefining the domain that did not start", name):
                dom.undefineFlags(undefine_flags(libvirt))
            raise
    return str(dom.UUIDString())


def undefine_flags(libvirt: Any) -> int:
    return (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    )


def undefine(conn: Connection, dom: Any) -> None:
    libvirt = load("libvirt")
    with conn.errors("removing the domain", dom.name()):
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(undefine_flags(libvirt))


def wait_for_agent(dom: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if agent_ping(dom, max(1.0, min(3.0, left))):
            return True
        if left <= 0:
            return False
        time.sleep(min(1.0, max(0.0, left)))
