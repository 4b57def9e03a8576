"""The tiny guest as a libvirt domain: TCG (this machine's /dev/kvm cannot run Linux), direct kernel boot.

The serial console goes to a file: the first place to look when the guest does not come up.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .image import AGENT_PORT, GuestImage

MEMORY_MIB = 256


def guest_domain_xml(name: str, image: GuestImage, root_disk: Path, serial_log: Path) -> str:
    def attr(value: object) -> str:
        return quoteattr(str(value))

    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{MEMORY_MIB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{escape(str(image.kernel))}</kernel>
    <initrd>{escape(str(image.initrd))}</initrd>
    <cmdline>console=ttyS0 root=/dev/vda</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file={attr(root_disk)}/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='{AGENT_PORT}'/>
    </channel>
    <serial type='file'>
      <source path={attr(serial_log)}/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def agent_command(dom, command: str, arguments: dict | None = None, timeout_s: int = 5) -> object:
    """One guest-agent command straight through libvirt (not the driver under test); its "return" value."""
    import libvirt_qemu

    request: dict[str, object] = {"execute": command}
    if arguments is not None:
        request["arguments"] = arguments
    return json.loads(libvirt_qemu.qemuAgentCommand(dom, json.dumps(request), timeout_s, 0))["return"]


def wait_for_agent(dom, timeout_s: float) -> float | None:
    """Seconds until guest-ping answered, or None after timeout_s."""
    import libvirt

    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            agent_command(dom, "guest-ping", timeout_s=2)
            return time.monotonic() - start
        except libvirt.libvirtError:
            time.sleep(0.5)
    return None


def serial_tail(serial_log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(serial_log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no serial log: {exc.strerror})"
