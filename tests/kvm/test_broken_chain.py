"""A checkpoint the product cannot trust (bitmap removed behind its back, QEMU killed) gives a full read that
still stores only new chunks, a note saying why, a fresh chain, and a byte-identical restore."""

from __future__ import annotations

import os
import signal
import time

import pytest

from backup.kvm.checkpoints import live_bitmaps, qmp

from .conftest import MiB
from .points import assert_identical, take

pytestmark = pytest.mark.libvirt


def _qemu_pid(d) -> int:
    return int(open(f"/run/libvirt/qemu/{d.name}.pid").read().strip())


def test_bitmap_removed_behind_our_back(host, store, make_domain, tmp_path):
    d = make_domain(fill=[("vda", 0, 8 * MiB, 0x11)])
    p1 = take(host, store, d, "p1", since=None, base=None)
    d.write("vda", 20 * MiB, 4 * MiB, 0x22)
    node = live_bitmaps(d.dom)["vda"].node
    qmp(d.dom, "block-dirty-bitmap-remove", node=node, name="azbk-p1")
    p2 = take(host, store, d, "p2", since="azbk-p1", base=p1.manifest)
    assert any("Full read" in n and "missing" in n for n in p2.notes)
    assert p2.bytes_read("vda") == 12 * MiB  # everything allocated ...
    disk = p2.manifest.disk("vda")
    assert disk.stored_bytes_new < 5 * MiB  # ... but only the new chunk stored
    assert_identical(store, p2, tmp_path / "r")
    d.write("vda", 40 * MiB, 4 * MiB, 0x33)
    p3 = take(host, store, d, "p3", since="azbk-p2", base=p2.manifest)  # the fresh chain works
    assert p3.incremental and p3.bytes_read("vda") == 4 * MiB
    assert_identical(store, p3, tmp_path / "r")


def test_qemu_killed_leaves_inconsistent_bitmaps(host, store, make_domain, tmp_path):
    d = make_domain(fill=[("vda", 0, 8 * MiB, 0x11)])
    p1 = take(host, store, d, "p1", since=None, base=None)
    d.write("vda", 20 * MiB, 4 * MiB, 0x22)
    os.kill(_qemu_pid(d), signal.SIGKILL)
    deadline = time.monotonic() + 20
    while d.dom.isActive() and time.monotonic() < deadline:
        time.sleep(0.1)
    d.start()
    p2 = take(host, store, d, "p2", since="azbk-p1", base=p1.manifest)
    assert any("Full read" in n for n in p2.notes), p2.notes
    assert_identical(store, p2, tmp_path / "r")
    d.write("vda", 40 * MiB, 4 * MiB, 0x33)
    p3 = take(host, store, d, "p3", since="azbk-p2", base=p2.manifest)
    assert p3.incremental and p3.bytes_read("vda") == 4 * MiB
    assert_identical(store, p3, tmp_path / "r")
    assert [c.getName() for c in d.dom.listAllCheckpoints(0)] == ["azbk-p3"]
