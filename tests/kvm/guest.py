"""A tiny Linux guest for the guest-agent tests, built from Debian packages: the cloud kernel, busybox and
qemu-guest-agent (with the host's copies of its libraries) in an initramfs that mounts /dev/vda (ext4) on /mnt
and runs the agent on its virtio-serial port. Booted directly (kernel + initrd), under TCG: ~10-20 s here.

Built once per machine into CACHE (about 30 MB); `build()` raises GuestUnavailable saying why when the packages
cannot be downloaded.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

CACHE = Path("/var/cache/azbt-kvmdrv-guest")
MODULES = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk",
           "virtio_console"]

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in MODULES; do insmod /lib/mod/$m.ko; done
mkdir -p /mnt /run /var/run /tmp
for i in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
mount -t ext4 /dev/vda /mnt && echo AZBT-MOUNTED > /dev/ttyS0
port=""
for i in $(seq 100); do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/$(basename $p)
  done
  [ -n "$port" ] && [ -c "$port" ] && break
  sleep 0.1
done
echo "AZBT-AGENT $port" > /dev/ttyS0
/usr/sbin/qemu-ga -m virtio-serial -p $port -t /run &
while true; do sleep 3600; done
"""


class GuestUnavailable(Exception):
    pass


def build() -> tuple[Path, Path]:
    """(kernel, initrd) paths, built on first use."""
    kernel, initrd = CACHE / "vmlinuz", CACHE / "initrd.cpio.gz"
    if kernel.exists() and initrd.exists():
        return kernel, initrd
    if shutil.which("apt-get") is None:
        raise GuestUnavailable("apt-get is needed to build the test guest")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        image = _depends("linux-image-cloud-amd64")
        proc = subprocess.run(["apt-get", "download", image, "qemu-guest-agent", "busybox-static"], cwd=work,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise GuestUnavailable(f"cannot download the guest's packages: {proc.stderr.strip()[-300:]}")
        x = work / "x"
        for deb in work.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(x)], check=True)
        root = work / "root"
        for d in ("bin", "dev", "proc", "sys", "lib/mod", "usr/sbin", "lib64", "lib/x86_64-linux-gnu"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy(x / "bin/busybox", root / "bin/busybox")
        shutil.copy(x / "usr/sbin/qemu-ga", root / "usr/sbin/qemu-ga")
        for name in MODULES:
            found = next(x.glob(f"lib/modules/*/kernel/**/{name}.ko"))
            shutil.copy(found, root / "lib/mod" / found.name)
        for lib in _libraries(x / "usr/sbin/qemu-ga"):
            dest = root / lib.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lib, dest)
        init = root / "init"
        init.write_text(INIT.replace("MODULES", " ".join(MODULES)))
        init.chmod(init.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        with gzip.open(work / "initrd", "wb", compresslevel=1) as fh:
            fh.write(_newc(root))
        shutil.copy(next(x.glob("boot/vmlinuz-*")), work / "vmlinuz")
        for f in ("vmlinuz", "initrd"):
            os.chmod(work / f, 0o644)
        os.replace(work / "vmlinuz", kernel)
        os.replace(work / "initrd", initrd)
    return kernel, initrd


def _newc(root: Path) -> bytes:
    """The tree as a cpio archive in the kernel's initramfs format ("newc"); no cpio tool needed."""
    out = bytearray()

    def entry(name: str, mode: int, data: bytes, ino: int) -> None:
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    paths = sorted(root.rglob("*"))
    for ino, path in enumerate(paths, start=1):
        st = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        entry(str(path.relative_to(root)), st.st_mode, data, ino)
    entry("TRAILER!!!", 0, b"", 0)
    return bytes(out)


def _depends(meta: str) -> str:
    out = subprocess.run(["apt-cache", "depends", meta], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "Depends:" in line and "linux-image-" in line:
            return line.split()[-1]
    raise GuestUnavailable(f"apt-cache does not know {meta} (run apt-get update)")


def _libraries(binary: Path) -> list[str]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > parts.index("=>") + 1 and parts[parts.index("=>") + 1].startswith("/"):
            libs.append(parts[parts.index("=>") + 1])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def domain_xml(name: str, disk: Path, kernel: Path, initrd: Path, console: Path) -> str:
    return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>192</memory><vcpu>1</vcpu>"
            f"<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>"
            "<cmdline>console=ttyS0 quiet panic=-1</cmdline></os><devices>"
            f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>"
            "<target dev='vda' bus='virtio'/></disk>"
            "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
            "<interface type='user'><model type='virtio'/></interface>"
            f"<serial type='file'><source path='{console}'/><target port='0'/></serial>"
            "<memballoon model='none'/></devices></domain>")
