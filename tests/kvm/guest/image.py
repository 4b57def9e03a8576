"""A tiny Linux guest with qemu-guest-agent, built from Debian packages without installing them.

Debian's kernel, busybox-static and qemu-guest-agent are fetched with `apt-get download` and unpacked with
`dpkg-deb -x`; qemu-ga's shared libraries come from the host (same Debian release, `ldd` says which). Out come:
- vmlinuz, and an initramfs (busybox, the modules for virtio disks/ports and ext4, an /init that mounts
  /dev/vda and switch_roots into it);
- root.qcow2: an ext4 file system made with `mkfs.ext4 -d` (no loop mounts) whose /sbin/init starts qemu-ga
  on its virtio-serial port and keeps appending to a file, so a freeze has writes to hold back.

The artefacts are cached outside the repo in a directory QEMU can read, keyed by the package versions and the
scripts below, so only the first run pays for the build.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR = Path(os.environ.get("AZBT_GUEST_CACHE", "/var/cache/azbt-guest"))
KERNEL_META = "linux-image-amd64"
PACKAGES = ("busybox-static", "qemu-guest-agent")
# ext4 finds its checksum through the crypto API, so its crc32c provider is no modinfo dependency of it; the
# generic one, because TCG's CPU model may lack SSE 4.2.
MODULES = ("virtio_pci", "virtio_blk", "virtio_console", "crc32c_generic", "ext4")
ROOT_SIZE = 64 * 1024 * 1024
AGENT_PORT = "org.qemu.guest_agent.0"
TICKS_FILE = "/var/log/azbt-ticks"
AGENT_OFF_FLAG = "/run/agent-off"  # once it exists the agent is not restarted (tests stop it on purpose)

INITRAMFS_INIT = """#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko || echo "azbt-initramfs: insmod $m failed"; done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "azbt-initramfs: cannot mount /dev/vda"; sleep 5; poweroff -f; }
mount --move /dev /newroot/dev
umount /proc /sys
echo "azbt-initramfs: switching to /dev/vda"
exec switch_root /newroot /sbin/init
"""

ROOT_INIT = f"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mkdir -p /dev/virtio-ports /run/qemu-ga
# No udev: name the virtio-serial ports the way its rules do.
for p in /sys/class/virtio-ports/*; do
  [ -r "$p/name" ] && ln -sf "../${{p##*/}}" "/dev/virtio-ports/$(cat "$p/name")"
done
echo "azbt-guest: up after $(cut -d' ' -f1 /proc/uptime) s"
(
  while [ ! -e {AGENT_OFF_FLAG} ]; do
    /usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/{AGENT_PORT} -t /run/qemu-ga
    sleep 1
  done
  echo "azbt-guest: agent stopped for good"
) &
while :; do
  echo "tick $(cut -d' ' -f1 /proc/uptime)" >> {TICKS_FILE}
  sleep 1
done
"""


class GuestBuildError(Exception):
    """One step of building the guest failed; the message names the step."""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    root_qcow2: Path  # the pristine root disk: copy it, never boot it directly
    key: str


def _run(args: list[str], what: str, deadline: float, cwd: Path | None = None) -> str:
    left = deadline - time.monotonic()
    if left <= 0:
        raise GuestBuildError(f"{what}: out of time")
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=left)
    except FileNotFoundError:
        raise GuestBuildError(f"{what}: {args[0]} is not installed")
    except subprocess.TimeoutExpired:
        raise GuestBuildError(f"{what}: out of time")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise GuestBuildError(f"{what}: {tail[0]}")
    return done.stdout


def _kernel_package(deadline: float) -> str:
    out = _run(["apt-cache", "depends", KERNEL_META], f"apt-cache depends {KERNEL_META}", deadline)
    found = re.search(r"Depends: (linux-image-\S+)", out)
    if not found:
        raise GuestBuildError(f"apt-cache depends {KERNEL_META}: names no kernel package")
    return found.group(1)


def _candidate_version(package: str, deadline: float) -> str:
    out = _run(["apt-cache", "policy", package], f"apt-cache policy {package}", deadline)
    found = re.search(r"Candidate: (\S+)", out)
    if not found or found.group(1) == "(none)":
        raise GuestBuildError(f"apt-cache policy {package}: no version available (apt-get update?)")
    return found.group(1)


def _cache_key(versions: dict[str, str]) -> str:
    text = "\n".join(f"{p}={v}" for p, v in sorted(versions.items()))
    text += INITRAMFS_INIT + ROOT_INIT + " ".join(MODULES) + str(ROOT_SIZE)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def guest_image(timeout_s: float = 300.0) -> GuestImage:
    """The cached guest for the current package versions, built first if needed (GuestBuildError)."""
    deadline = time.monotonic() + timeout_s
    packages = (_kernel_package(deadline), *PACKAGES)
    versions = {p: _candidate_version(p, deadline) for p in packages}
    key = _cache_key(versions)
    final = CACHE_DIR / key
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        CACHE_DIR.chmod(0o755)
        (CACHE_DIR / ".lock").touch()
    except OSError as exc:
        raise GuestBuildError(f"cache directory {CACHE_DIR}: {exc.strerror}")
    with open(CACHE_DIR / ".lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel run waits for this build instead of doing its own
        if not (final / "root.qcow2").exists():
            for stale in CACHE_DIR.iterdir():  # a killed build's leftovers, guests of older package versions
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
            _build(final, packages, deadline)
    return GuestImage(kernel=final / "vmlinuz", initrd=final / "initrd.gz", root_qcow2=final / "root.qcow2", key=key)


def _build(final: Path, packages: tuple[str, ...], deadline: float) -> None:
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=CACHE_DIR))
    try:
        debs = work / "debs"
        debs.mkdir()
        _run(["apt-get", "download", "-q", *packages], "apt-get download " + " ".join(packages), deadline, cwd=debs)
        tree = work / "tree"
        for deb in sorted(debs.glob("*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(tree)], f"dpkg-deb -x {deb.name}", deadline)
        out = work / "out"
        out.mkdir()
        vmlinuz = sorted((tree / "boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise GuestBuildError(f"{packages[0]}: holds no /boot/vmlinuz-*")
        shutil.copyfile(vmlinuz[-1], out / "vmlinuz")
        busybox = tree / "bin" / "busybox"
        if not busybox.exists():
            raise GuestBuildError("busybox-static: holds no /bin/busybox")
        _write_initramfs(out / "initrd.gz", busybox, _module_files(tree))
        root = work / "root"
        _fill_root(root, busybox, tree / "usr" / "sbin" / "qemu-ga", deadline)
        raw = work / "root.img"
        with open(raw, "wb") as fh:
            fh.truncate(ROOT_SIZE)
        _run(["mkfs.ext4", "-q", "-F", "-L", "azbt-root", "-d", str(root), str(raw)], "mkfs.ext4 -d", deadline)
        _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(out / "root.qcow2")], "qemu-img convert", deadline)
        for f in out.iterdir():
            f.chmod(0o644)
        out.chmod(0o755)
        out.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _modinfo_depends(ko: Path) -> list[str]:
    """The `depends=` of a module's .modinfo section (no kmod needed on the host)."""
    data = ko.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise GuestBuildError(f"{ko.name}: not a 64-bit ELF module (compressed modules are not supported)")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, off, size

    _, strs_off, _ = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        if data[strs_off + name:data.index(b"\0", strs_off + name)] == b".modinfo":
            for entry in data[off:off + size].split(b"\0"):
                if entry.startswith(b"depends="):
                    return [d for d in entry[8:].decode().split(",") if d]
            return []
    raise GuestBuildError(f"{ko.name}: has no .modinfo section")


def _module_files(tree: Path) -> list[Path]:
    """MODULES and what they need, in load order."""
    found = {ko.stem.replace("-", "_"): ko for ko in (tree / "lib" / "modules").glob("*/kernel/**/*.ko")}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        name = name.replace("-", "_")
        if name in seen:
            return
        seen.add(name)
        if name not in found:
            raise GuestBuildError(f"kernel package: no module {name} (built in? then drop it from MODULES)")
        for dep in _modinfo_depends(found[name]):
            visit(dep)
        order.append(found[name])

    for module in MODULES:
        visit(module)
    return order


def _write_initramfs(target: Path, busybox: Path, modules: list[Path]) -> None:
    entries: list[tuple[str, int, bytes, int]] = [  # path, mode, data, rdev (major, minor) packed
        ("bin", 0o040755, b"", 0), ("dev", 0o040755, b"", 0), ("dev/console", 0o020600, b"", (5 << 8) | 1),
        ("lib", 0o040755, b"", 0), ("lib/modules", 0o040755, b"", 0), ("newroot", 0o040755, b"", 0),
        ("proc", 0o040755, b"", 0), ("sys", 0o040755, b"", 0),
        ("bin/busybox", 0o100755, busybox.read_bytes(), 0), ("init", 0o100755, INITRAMFS_INIT.encode(), 0),
    ]
    names = [ko.stem.replace("-", "_") for ko in modules]
    entries += [(f"lib/modules/{n}.ko", 0o100644, ko.read_bytes(), 0) for n, ko in zip(names, modules, strict=True)]
    entries.append(("lib/modules/order", 0o100644, ("\n".join(names) + "\n").encode(), 0))
    with gzip.open(target, "wb", compresslevel=6) as fh:
        fh.write(_cpio_newc(entries))


def _cpio_newc(entries: Iterable[tuple[str, int, bytes, int]]) -> bytes:
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate([*entries, ("TRAILER!!!", 0, b"", 0)], start=1):
        raw_name = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 2 if mode & 0o040000 else 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF,
                  len(raw_name), 0)
        out.extend(b"070701" + "".join(f"{f:08x}" for f in fields).encode() + raw_name)
        pad()
        out.extend(data)
        pad()
    return bytes(out)


def _fill_root(root: Path, busybox: Path, qemu_ga: Path, deadline: float) -> None:
    for d in ("bin", "sbin", "usr/sbin", "dev", "proc", "sys", "run", "tmp", "var/log", "etc"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "var" / "run").symlink_to("../run")
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = _run([str(busybox), "--list"], "busybox --list", deadline).split()
    for applet in applets:
        if applet not in ("busybox", "init"):
            (root / "bin" / applet).symlink_to("busybox")
    init = root / "sbin" / "init"
    init.write_text(ROOT_INIT)
    init.chmod(0o755)
    if not qemu_ga.exists():
        raise GuestBuildError("qemu-guest-agent: holds no /usr/sbin/qemu-ga")
    shutil.copy2(qemu_ga, root / "usr" / "sbin" / "qemu-ga")
    for lib in _shared_libraries(qemu_ga, deadline):
        dest = root / lib.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lib, dest)  # the file behind the soname symlink
        dest.chmod(0o755)


def _shared_libraries(binary: Path, deadline: float) -> list[Path]:
    out = _run(["ldd", str(binary)], f"ldd {binary.name}", deadline)
    libs = []
    for line in out.splitlines():
        if "not found" in line:
            raise GuestBuildError(f"ldd qemu-ga: {line.strip()} on the host")
        found = re.search(r"(/\S+) \(0x", line)
        if found:
            libs.append(Path(found.group(1)))
    return libs
