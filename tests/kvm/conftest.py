"""Real libvirt for the KVM driver's tests: a connection to the machine's libvirtd, a folder QEMU can read, a
storage pool on it, and domains with no OS (q35, 64 MiB, virtio qcow2 disks, no boot device) that start in about
a second. Writes reach a running guest's disk through QEMU's own block layer (HMP qemu-io), so every test knows
the exact content of each disk at each point in time (`DiskModel`) and checks restores against it byte by byte.

Everything made here is named azbt-<random> and removed afterwards, also when a test fails. Without libvirt
(bindings, daemon or qemu-img missing) the tests marked `libvirt` are left out with one line saying why at
the end of the run; on CI (CI set) the run stops with that reason instead.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from backup import kvm  # noqa: E402
from backup.kvm.bindings import available  # noqa: E402

MiB = 1024 * 1024
URI = os.environ.get("KVM_TEST_URI", "qemu:///system")
IMAGES = Path("/var/lib/libvirt/images")
WORK = Path("/var/lib/libvirt/qemu")


def _why_unavailable() -> str | None:
    missing = available()
    if missing:
        return missing
    for tool in ("qemu-img", "qemu-io", "qemu-nbd", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian packages qemu-utils, qemu-system-x86)"
    if not IMAGES.is_dir() or not os.access(IMAGES, os.W_OK):
        return f"{IMAGES} is missing or not writable (libvirt-daemon-system, run as root)"
    try:
        kvm.Host(URI).close()
    except kvm.KvmError as exc:
        return str(exc)
    return None


_SKIPPED: list[str] = []


def pytest_collection_modifyitems(config, items):
    wanted = [item for item in items if item.get_closest_marker("libvirt")]
    if not wanted:
        return
    reason = _why_unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"libvirt tests cannot run on CI: {reason}")
    # Deselected rather than skipped one by one, so the run says it once (terminal summary), not once per file.
    config.hook.pytest_deselected(items=wanted)
    items[:] = [item for item in items if item not in wanted]
    _SKIPPED.append(f"{len(wanted)} libvirt tests skipped: {reason}")


def pytest_terminal_summary(terminalreporter):
    for line in _SKIPPED:
        terminalreporter.write_line(line, yellow=True, bold=True)


def unique(prefix: str = "azbt") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


class LiveConnection:
    """The tests' own libvirt connection, reopened when libvirtd went away (one test crashes it on purpose)."""

    def __init__(self) -> None:
        self._conn = None

    def get(self):
        import libvirt

        if self._conn is None or not self._alive():
            self._conn = libvirt.open(URI)
        return self._conn

    def _alive(self) -> bool:
        try:
            self._conn.getLibVersion()  # isAlive() stays true until a keepalive fails
            return True
        except Exception:
            return False

    def __getattr__(self, name: str):
        return getattr(self.get(), name)


@pytest.fixture(scope="session")
def lv():
    conn = LiveConnection()
    yield conn
    conn.get().close()


@pytest.fixture(scope="session")
def images_dir() -> Iterator[Path]:
    """A folder QEMU (libvirt-qemu) can read: pytest's tmp folders are 0700 root."""
    path = IMAGES / unique()
    path.mkdir(mode=0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    path = WORK / unique("azbt-work")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def host(work_dir) -> Iterator[kvm.Host]:
    h = kvm.Host(URI, agent_timeout_s=2, work_dir=work_dir)
    yield h
    h.close()


@pytest.fixture(scope="session")
def pool(lv, images_dir) -> Iterator[str]:
    """A directory storage pool for restored disks."""
    name = unique()
    folder = images_dir / "pool"
    folder.mkdir()
    p = lv.storagePoolDefineXML(f"<pool type='dir'><name>{name}</name><target><path>{folder}</path></target></pool>")
    p.create(0)
    yield name
    p = lv.storagePoolLookupByName(name)
    for vol in p.listAllVolumes(0):
        vol.delete(0)
    p.destroy()
    p.undefine()


@pytest.fixture
def store(tmp_path):
    from backup.engine import Store

    return Store.init(tmp_path / "store")


@dataclass
class DiskModel:
    """What a disk holds, write by write: the ground truth restores are compared with."""

    target: str
    path: Path
    size: int
    fmt: str
    content: bytearray = field(default_factory=bytearray)

    def apply(self, offset: int, length: int, pattern: int) -> None:
        self.content[offset:offset + length] = bytes([pattern]) * length

    def digest(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class TestDomain:
    """A domain with no OS and its disks' models; writes go through QEMU (running) or qemu-io (shut off)."""

    def __init__(self, lv, name: str, disks: list[DiskModel], xml: str) -> None:
        self.lv = lv
        self.name = name
        self.disks = {d.target: d for d in disks}
        self.uuid = lv.defineXML(xml).UUIDString()

    @property
    def dom(self):
        return self.lv.lookupByUUIDString(self.uuid)

    def start(self) -> None:
        self.dom.create()

    def shutdown(self) -> None:
        self.dom.destroy()  # no OS to shut down gracefully; destroy still saves the bitmaps (QEMU quits cleanly)

    def write(self, target: str, offset: int, length: int, pattern: int) -> None:
        disk = self.disks[target]
        command = f"write -P {pattern:#x} {offset} {length}"
        if self.dom.isActive():
            qom = f"/machine/peripheral/{self._alias(target)}/virtio-backend"
            hmp(self.dom, f'qemu-io -d {qom} "{command}"')
        else:
            run("qemu-io", "-f", disk.fmt, "-c", command, str(disk.path))
        disk.apply(offset, length, pattern)

    def snapshot_models(self) -> dict[str, bytes]:
        return {t: bytes(d.content) for t, d in self.disks.items()}

    def _alias(self, target: str) -> str:
        root = ET.fromstring(self.dom.XMLDesc(0))
        for disk in root.findall("devices/disk"):
            if disk.find("target").get("dev") == target:
                return disk.find("alias").get("name")
        raise KeyError(target)

    def remove(self) -> None:
        import libvirt

        # libvirtd may be restarting (a test crashes it): retry rather than leave the domain defined.
        deadline = time.monotonic() + 30
        while True:
            try:
                dom = self.dom
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
                                  | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
                return
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN or time.monotonic() > deadline:
                    return
                time.sleep(0.5)


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def hmp(dom, command: str) -> str:
    import libvirt_qemu

    return libvirt_qemu.qemuMonitorCommand(dom, command, libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)


def domain_xml(name: str, disks: list[DiskModel], *, agent: bool = False, nic: bool = True) -> str:
    # TCG: an idle domain without an OS starts in ~1 s here, faster than under this machine's kvm-pvm.
    letters = "".join(
        f"<disk type='file' device='disk'><driver name='qemu' type='{d.fmt}'/><source file='{d.path}'/>"
        f"<target dev='{d.target}' bus='virtio'/></disk>" for d in disks)
    channel = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>" if agent else ""
    iface = "<interface type='user'><model type='virtio'/></interface>" if nic else ""
    return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            f"<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>{letters}{channel}{iface}"
            "<memballoon model='none'/></devices></domain>")


@pytest.fixture
def make_domain(lv, images_dir) -> Iterator:
    made: list[TestDomain] = []

    def make(disks: list[tuple[str, str, int]] | None = None, *, agent: bool = False, start: bool = True,
             fill: list[tuple[str, int, int, int]] = ()) -> TestDomain:
        """disks: (target, format, size); fill: (target, offset, length, pattern) written before start."""
        name = unique()
        models = []
        for target, fmt, size in disks or [("vda", "qcow2", 64 * MiB)]:
            path = images_dir / f"{name}-{target}.{fmt}"
            run("qemu-img", "create", "-q", "-f", fmt, str(path), str(size))
            os.chmod(path, 0o644)
            models.append(DiskModel(target, path, size, fmt, bytearray(size)))
        d = TestDomain(lv, name, models, domain_xml(name, models, agent=agent))
        made.append(d)
        for target, offset, length, pattern in fill:
            d.write(target, offset, length, pattern)
        if start:
            d.start()
        return d

    yield make
    for d in made:
        d.remove()
        for disk in d.disks.values():
            disk.path.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(4 * MiB), b""):
            h.update(block)
    return h.hexdigest()
