"""Verification: re-read, decompress and re-hash every referenced chunk."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .backends import VaultStore
from .backup import IO_THREADS_PER_WORKER
from .errors import ChunkError, CorruptChunk, MissingChunk


@dataclass(frozen=True)
class ChunkProblem:
    chunk_hash: str
    kind: str  # "missing" | "corrupt"
    detail: str
    references: tuple[tuple[str, str], ...]  # (point_id, disk_key) using the chunk


@dataclass(frozen=True)
class VerifyReport:
    points_checked: list[str] = field(default_factory=list)
    chunks_checked: int = 0
    missing: list[ChunkProblem] = field(default_factory=list)
    corrupt: list[ChunkProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt

    def summary(self) -> str:
        if self.ok:
            return f"{len(self.points_checked)} points, {self.chunks_checked} chunks verified, no problem"
        return (
            f"{len(self.missing)} missing and {len(self.corrupt)} corrupt chunks in "
            f"{len({r[0] for p in self.missing + self.corrupt for r in p.references})} recovery points"
        )


def _check(store: VaultStore, chunk_hash: str, length: int) -> ChunkError | None:
    try:
        store.read_chunk(chunk_hash, expected_length=length, use_cache=False)
    except ChunkError as exc:
        return exc
    return None


def verify(store: VaultStore, point_ids: list[str] | None = None, workers: int = 2) -> VerifyReport:
    """Check the given points (default: all). Each distinct chunk is read once."""
    manifests = store.list_manifests() if point_ids is None else [store.load_manifest(p) for p in point_ids]
    # Pass 1: distinct chunks only, so memory is O(distinct chunks), not O(references).
    lengths: dict[str, int] = {}
    for m in manifests:
        for d in m.disks:
            for i, h in enumerate(d.chunks):
                if h is not None:
                    lengths[h] = d.chunk_length(i)
    with ThreadPoolExecutor(max_workers=max(1, workers) * IO_THREADS_PER_WORKER, thread_name_prefix="verify") as pool:
        results = pool.map(lambda kv: (kv[0], _check(store, kv[0], kv[1])), lengths.items())
        bad = {h: err for h, err in results if err is not None}
    # Pass 2: who references the bad chunks (only these are kept in memory).
    refs: dict[str, list[tuple[str, str]]] = {h: [] for h in bad}
    if bad:
        for m in manifests:
            for d in m.disks:
                for h in bad.keys() & set(d.chunks):
                    refs[h].append((m.point_id, d.key))
    missing: list[ChunkProblem] = []
    corrupt: list[ChunkProblem] = []
    for h, err in bad.items():
        problem = ChunkProblem(h, err.kind, str(err.detail), tuple(refs[h]))
        (missing if isinstance(err, MissingChunk) else corrupt).append(problem)
    assert all(isinstance(e, (MissingChunk, CorruptChunk)) for e in bad.values())
    return VerifyReport([m.point_id for m in manifests], len(lengths), missing, corrupt)
