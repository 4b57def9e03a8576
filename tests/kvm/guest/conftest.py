"""Fixtures of the tiny-Linux-guest tests: the built image, a running guest, a host and a store for the module.

The connection, QEMU-readable folder, work folder and pool are tests/kvm's. The guest is built (or found in
its cache) at collection; where it cannot be (no Debian archive, a build step failing) its tests are left out
with one line saying what failed; on CI (env CI set) the run stops with it instead.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backup.engine import Store

from ..conftest import _SKIPPED, URI, unique
from .domain import guest_domain_xml, serial_tail, wait_for_agent
from .image import GuestBuildError, GuestImage, guest_image

BOOT_TIMEOUT_S = 60.0  # TCG boots it in 5-20 s; the rest is for a machine busy with other tests
BUILD_TIMEOUT_S = 300.0
AGENT_TIMEOUT_S = 5.0


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(trylast=True)  # after tests/kvm's hook has left out what cannot run without libvirt
def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    wanted = [item for item in items if here in Path(item.path).parents and "image" in item.fixturenames]
    if not wanted:
        return
    try:
        guest_image(timeout_s=BUILD_TIMEOUT_S)
    except GuestBuildError as exc:
        reason = f"tiny Linux guest not built: {exc}"
        if os.environ.get("CI"):
            raise pytest.UsageError(f"guest tests cannot run on CI: {reason}")
        config.hook.pytest_deselected(items=wanted)  # one line for all of them, as tests/kvm does
        items[:] = [item for item in items if item not in wanted]
        _SKIPPED.append(f"{len(wanted)} guest tests skipped: {reason}")


@pytest.fixture(scope="session")
def image() -> GuestImage:
    try:
        return guest_image(timeout_s=BUILD_TIMEOUT_S)
    except GuestBuildError as exc:
        unavailable(f"tiny Linux guest not built: {exc}")
        raise


@pytest.fixture(scope="module")
def qemu_dir(images_dir) -> Iterator[Path]:
    """Where QEMU (libvirt-qemu) may also create files: backup sockets and scratch files of other jobs."""
    path = images_dir / unique("azbt-guest")
    path.mkdir()
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Guest:
    lv: Any
    name: str
    uuid: str
    root_disk: Path
    serial_log: Path
    boot_s: float

    @property
    def dom(self) -> Any:
        return self.lv.lookupByUUIDString(self.uuid)  # through a connection that survives a libvirtd restart


def remove_domain(lv, name: str, wait_s: float = 30.0) -> None:
    """Destroy and undefine `name`, waiting out a libvirtd restart (another test may be causing one)."""
    import libvirt

    deadline = time.monotonic() + wait_s
    while True:
        try:
            dom = lv.lookupByName(name)
            break
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN or time.monotonic() > deadline:
                return
            time.sleep(1.0)
    for step in (dom.destroy, lambda: dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)):
        try:
            step()
        except libvirt.libvirtError:
            pass


@pytest.fixture(scope="module")
def guest(lv, image, qemu_dir) -> Iterator[Guest]:
    """The tiny guest running with its agent answering (persistent, so it has an inactive XML to restore)."""
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # raised as exceptions; not printed as well
    name = unique("azbt-guest")
    root_disk = qemu_dir / f"{name}.qcow2"
    shutil.copyfile(image.root_qcow2, root_disk)
    serial_log = qemu_dir / f"{name}.serial.log"
    dom = lv.defineXML(guest_domain_xml(name, image, root_disk, serial_log))
    try:
        dom.create()
        boot_s = wait_for_agent(dom, BOOT_TIMEOUT_S)
        if boot_s is None:
            pytest.fail(f"guest {name}: no agent after {BOOT_TIMEOUT_S:.0f} s; serial console:\n"
                        f"{serial_tail(serial_log)}", pytrace=False)
        print(f"guest {name}: boot to agent {boot_s:.1f} s under TCG")
        yield Guest(lv=lv, name=name, uuid=dom.UUIDString(), root_disk=root_disk, serial_log=serial_log,
                    boot_s=boot_s)
    finally:
        remove_domain(lv, name)


@pytest.fixture(scope="module")
def guest_host(work_dir):
    from backup.kvm import Host

    h = Host(URI, agent_timeout_s=AGENT_TIMEOUT_S, work_dir=work_dir)
    yield h
    h.close()


@pytest.fixture(scope="module")
def guest_store(tmp_path_factory) -> Store:
    """One store for the module: the restore test restores the point the quiesced backup made."""
    return Store.init(tmp_path_factory.mktemp("guest-store") / "store")
