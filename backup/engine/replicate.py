"""Copy a recovery point from one store to another: the secondary copy of a geo-redundant vault.

As a Proxmox Backup Server sync job does: every chunk the point names that the target lacks is read from the
source (read_chunk re-hashes, so a corrupt chunk is never copied) and written to the target, the target's chunk
directories are made durable, and the manifest is committed last. So the target either holds the whole point or
does not show it, and running the copy again after a crash only finishes it (idempotent on the point id).

Only the stores' public methods are used, so any store kind (a folder, a bucket) can be either side. The copy
holds a lease on the target as a backup does: an object store's GC, whose touch is only an existence check,
then waits until the manifest naming the chunks found there is committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backends import VaultStore
from .errors import Cancelled
from .manifest import Manifest
from .protocols import CancelCheck


@dataclass(frozen=True)
class ReplicationResult:
    point_id: str
    chunks_copied: int  # chunks the target lacked
    bytes_copied: int  # size of the chunk files written to the target
    chunks_present: int  # chunks the target already held (only touched)
    already_there: bool  # the target held the manifest before this call


def point_chunks(manifest: Manifest) -> list[tuple[str, int]]:
    """Each distinct chunk of a point once, with its uncompressed length (what read_chunk checks)."""
    seen: dict[str, int] = {}
    for disk in manifest.disks:
        for index, chunk in enumerate(disk.chunks):
            if chunk is not None and chunk not in seen:
                seen[chunk] = disk.chunk_length(index)
    return list(seen.items())


def replicate_point(
    source: VaultStore, target: VaultStore, point_id: str, *, cancel: CancelCheck | None = None
) -> ReplicationResult:
    """Make `target` hold `point_id` exactly as `source` does; chunks first, the manifest last."""
    manifest = source.load_manifest(point_id)
    already = target.has_manifest(point_id)
    copied = present = size = 0
    prefixes: set[str] = set()
    with target.lease(f"copy of {point_id}"):
        for chunk, length in point_chunks(manifest):
            if cancel is not None and cancel():
                raise Cancelled("the replication was cancelled")
            # Touching is the existence check and marks the chunk in use for a GC running on the target.
            if target.touch_chunk(chunk):
                present += 1
                continue
            put = target.put_chunk(chunk, source.read_chunk(chunk, expected_length=length))
            if put.written:
                copied += 1
                size += put.file_bytes
                prefixes.add(chunk[:2])
            else:
                present += 1
        if prefixes:
            target.sync_chunk_dirs(prefixes)
        if not already:
            target.commit_manifest(manifest)
    return ReplicationResult(point_id, copied, size, present, already)


def missing_points(source: VaultStore, target: VaultStore) -> list[str]:
    """Points the source holds and the target does not, oldest first."""
    return [m.point_id for m in source.list_manifests() if not target.has_manifest(m.point_id)]
