"""Fixtures of the tiny-Linux-guest tests: the built image, a running guest, a store and a pool for restores.

Where the guest cannot be had (no libvirtd, no Debian archive, a build step failing) the tests skip with one
line saying what failed; on CI (env CI set) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backup.engine import Store

from .domain import guest_domain_xml, serial_tail, wait_for_agent
from .image import GuestBuildError, GuestImage, guest_image

URI = os.environ.get("AZBT_LIBVIRT_URI", "qemu:///system")
BOOT_TIMEOUT_S = 60.0  # TCG boots it in 5-20 s; the rest is for a machine busy with other tests
BUILD_TIMEOUT_S = 300.0


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def libvirt_module():
    try:
        import libvirt
    except ImportError:
        unavailable("libvirt guest tests: python3-libvirt is not importable from this venv")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are raised; don't print them too
    return libvirt


@pytest.fixture(scope="session")
def conn(libvirt_module):
    try:
        c = libvirt_module.open(URI)
    except libvirt_module.libvirtError as exc:
        unavailable(f"libvirt guest tests: cannot connect to {URI}: {exc.get_error_message()}")
    yield c
    c.close()


@pytest.fixture(scope="session")
def image(conn) -> GuestImage:
    try:
        return guest_image(timeout_s=BUILD_TIMEOUT_S)
    except GuestBuildError as exc:
        unavailable(f"tiny Linux guest not built: {exc}")
        raise


@pytest.fixture(scope="module")
def qemu_dir() -> Iterator[Path]:
    """A directory QEMU (user libvirt-qemu) can enter, write sockets and scratch files in."""
    path = Path(tempfile.mkdtemp(prefix="azbt-guest-", dir="/var/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def pool(conn, libvirt_module, qemu_dir) -> Iterator[tuple[str, Path]]:
    """A dir pool for restored volumes: (name, path)."""
    name = f"azbt-guest-pool-{uuid.uuid4().hex[:8]}"
    path = qemu_dir / "pool"
    path.mkdir()
    path.chmod(0o755)
    p = conn.storagePoolCreateXML(f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>")
    yield name, path
    try:
        p.destroy()  # transient: destroying it removes its definition, the volumes are files under qemu_dir
    except libvirt_module.libvirtError:
        pass


@dataclass
class Guest:
    name: str
    dom: object
    root_disk: Path
    serial_log: Path
    boot_s: float


def remove_domain(libvirt, dom) -> None:
    for step in (dom.destroy, lambda: dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)):
        try:
            step()
        except libvirt.libvirtError:
            pass


@pytest.fixture(scope="module")
def guest(conn, libvirt_module, image, qemu_dir) -> Iterator[Guest]:
    """The tiny guest running with its agent answering (persistent, so it has an inactive XML to restore)."""
    name = f"azbt-guest-{uuid.uuid4().hex[:8]}"
    root_disk = qemu_dir / f"{name}.qcow2"
    shutil.copyfile(image.root_qcow2, root_disk)
    serial_log = qemu_dir / f"{name}.serial.log"
    dom = conn.defineXML(guest_domain_xml(name, image, root_disk, serial_log))
    try:
        dom.create()
        boot_s = wait_for_agent(dom, BOOT_TIMEOUT_S)
        if boot_s is None:
            pytest.fail(f"guest {name}: no agent after {BOOT_TIMEOUT_S:.0f} s; serial console:\n"
                        f"{serial_tail(serial_log)}", pytrace=False)
        print(f"guest {name}: boot to agent {boot_s:.1f} s under TCG")
        yield Guest(name=name, dom=dom, root_disk=root_disk, serial_log=serial_log, boot_s=boot_s)
    finally:
        remove_domain(libvirt_module, dom)


@pytest.fixture(scope="module")
def host(conn, qemu_dir):
    from backup.kvm import Host

    work = qemu_dir / "work"
    work.mkdir()
    work.chmod(0o1777)
    h = Host(URI, agent_timeout_s=5.0, work_dir=work)
    yield h
    h.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store.init(tmp_path_factory.mktemp("guest-store") / "store")


def elapsed(start: float) -> float:
    return time.monotonic() - start
