"""One libvirt connection per Host: opened lazily, reopened after libvirtd went away, errors in words.

libvirtd can restart (or crash) under a running job; every call then fails with an RPC error. Those become
HostUnavailable and drop the connection, so the next call of the same Host reconnects.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from .bindings import load
from .errors import DomainNotFound, HostUnavailable, KvmError

_silenced = False


def _silence_default_handler(libvirt: Any) -> None:
    # libvirt prints every error to stderr by default; ours carry the message instead.
    global _silenced
    if not _silenced:
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        _silenced = True


def is_local(uri: str) -> bool:
    """True for qemu:///system and friends: the daemon, the images and the NBD sockets are on this machine."""
    parsed = urlparse(uri)
    _driver, _, transport = parsed.scheme.partition("+")
    return not parsed.hostname and transport in ("", "unix")


class Connection:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._conn: Any = None

    def get(self) -> Any:
        libvirt = load("libvirt")
        _silence_default_handler(libvirt)
        if self._conn is not None:
            try:
                self._conn.getLibVersion()  # isAlive() stays true after a restart until a keepalive fails
                return self._conn
            except libvirt.libvirtError:
                pass
            self.close()
        try:
            self._conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise HostUnavailable(
                f"Cannot connect to the libvirt host {self.uri}: {_message(exc)}. Check that "
                "libvirtd runs there and that this worker may connect."
            ) from None
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    @contextmanager
    def errors(self, what: str, domain: str = "") -> Iterator[None]:
        """Translate libvirt errors raised inside into KvmError subclasses; `what` names the operation."""
        libvirt = load("libvirt")
        try:
            yield
        except libvirt.libvirtError as exc:
            raise self.translate(exc, what, domain) from None

    def translate(self, exc: Exception, what: str, domain: str = "") -> KvmError:
        libvirt = load("libvirt")
        code = exc.get_error_code() if isinstance(exc, libvirt.libvirtError) else None
        where = f" of domain {domain}" if domain else ""
        if code == libvirt.VIR_ERR_NO_DOMAIN:
            return DomainNotFound(f"The domain{' ' + domain if domain else ''} no longer exists on {self.uri}")
        if self._lost(exc, libvirt):
            self.close()
            return HostUnavailable(
                f"libvirtd on {self.uri} went away during {what}{where} ({_message(exc)}); the next run reconnects"
            )
        return KvmError(f"{what.capitalize()}{where} failed on {self.uri}: {_message(exc)}")

    def _lost(self, exc: Exception, libvirt: Any) -> bool:
        if isinstance(exc, libvirt.libvirtError) and exc.get_error_domain() == libvirt.VIR_FROM_RPC:
            return True
        if isinstance(exc, libvirt.libvirtError) and exc.get_error_code() in (
            libvirt.VIR_ERR_NO_CONNECT,
            libvirt.VIR_ERR_INVALID_CONN,
            libvirt.VIR_ERR_RPC,
        ):
            return True
        try:
            return self._conn is None or not self._conn.isAlive()
        except libvirt.libvirtError:
            return True


def _message(exc: Exception) -> str:
    get = getattr(exc, "get_error_message", None)
    text = (get() if get else None) or str(exc)
    return text.strip().rstrip(".")
