"""Taking and restoring recovery points of a test domain through the real engine."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backup.engine import Manifest, Store, backup_snapshot, restore_point


@dataclass
class Point:
    manifest: Manifest
    expected: dict[str, bytes]  # each disk's content at the point in time (from the test's model)
    notes: list[str]
    consistency: str
    domain_xml: str
    incremental: bool

    def bytes_read(self, key: str) -> int:
        disk = self.manifest.disk(key)
        assert disk is not None
        return disk.bytes_read


def take(host, store: Store, domain, point_id: str, *, since: str | None, base: Manifest | None,
         during: Callable[[], None] | None = None, **kwargs) -> Point:
    """One backup; `during` writes into the guest after the point in time is fixed, while the engine reads."""
    with host.begin_backup(domain.uuid, checkpoint=f"azbk-{point_id}", since=since, **kwargs) as snap:
        expected = domain.snapshot_models()
        if during is not None:
            during()
        manifest = backup_snapshot(store, item="vm", point_id=point_id, snapshot=snap, time=snap.created_at,
                                   base=base)
    return Point(manifest, expected, list(snap.notes), snap.consistency, snap.domain_xml, snap.incremental)


def restore_digests(store: Store, point: Point, folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    targets = {d.key: folder / f"{point.manifest.point_id}-{d.key}.raw" for d in point.manifest.disks}
    restore_point(store, point.manifest.point_id, targets)
    out = {}
    for key, path in targets.items():
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        path.unlink()
    return out


def assert_identical(store: Store, point: Point, folder: Path) -> None:
    got = restore_digests(store, point, folder)
    want = {k: hashlib.sha256(v).hexdigest() for k, v in point.expected.items()}
    assert got == want, f"restore of {point.manifest.point_id} differs from the disk at the point in time"
