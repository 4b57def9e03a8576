"""The libvirt and libnbd Python bindings, imported only when a host is used.

They come from Debian packages (python3-libvirt, python3-libnbd) linked into the venv by `make test`, so the
portal and its tests still import backup.kvm on a machine without them; using a host then says what is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import KvmError

_PACKAGES = {"libvirt": "python3-libvirt", "libvirt_qemu": "python3-libvirt", "nbd": "python3-libnbd"}


def load(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise KvmError(
            f"The Python module {name!r} cannot be imported ({exc}): install the Debian package "
            f"{_PACKAGES[name]} and link it into the venv (`make test` does both; the bindings are "
            "built for Debian's python3)"
        ) from None


def available() -> str | None:
    """None when every binding imports, else why not (in words)."""
    for name in _PACKAGES:
        try:
            load(name)
        except KvmError as exc:
            return str(exc)
    return None
