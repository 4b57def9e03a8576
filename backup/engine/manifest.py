"""Recovery point manifests: what a point is made of, as a small JSON file.

A manifest is the only thing that makes a recovery point exist. It is written
last, atomically, after every chunk it names is durable (see store.py), so a
reader either sees a complete point or no point at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

FORMAT_VERSION = 1

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_HASH_RE = re.compile(r"[0-9a-f]{64}\Z")


def check_id(value: str, what: str) -> str:
    """Ids become file names, so only a safe alphabet is accepted."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(f"invalid {what}: {value!r} (expected [A-Za-z0-9_-]{{1,64}})")
    return value


def check_hash(value: str) -> str:
    # Chunk paths are derived from hashes; a forged manifest must not escape the store.
    if not isinstance(value, str) or not _HASH_RE.match(value):
        raise ValueError(f"invalid chunk hash in manifest: {value!r}")
    return value


@dataclass(frozen=True)
class DiskManifest:
    key: str
    size: int
    change_id: str
    chunk_size: int
    chunks: list[str | None]  # one per chunk index; None = hole / all zeros
    logical_bytes: int = 0  # allocated data of the disk at snapshot time
    bytes_read: int = 0  # bytes this backup read from the snapshot
    bytes_transferred: int = 0  # new (compressed) payload bytes written to the store
    stored_bytes_new: int = 0  # size on disk of the chunk files this backup created

    def chunk_length(self, index: int) -> int:
        return min(self.chunk_size, self.size - index * self.chunk_size)


@dataclass(frozen=True)
class Manifest:
    point_id: str
    item: str
    time: datetime
    consistency: str
    disks: tuple[DiskManifest, ...] = field(default_factory=tuple)
    format_version: int = FORMAT_VERSION

    def disk(self, key: str) -> DiskManifest | None:
        for d in self.disks:
            if d.key == key:
                return d
        return None

    @property
    def logical_bytes(self) -> int:
        return sum(d.logical_bytes for d in self.disks)

    @property
    def bytes_read(self) -> int:
        return sum(d.bytes_read for d in self.disks)

    @property
    def bytes_transferred(self) -> int:
        return sum(d.bytes_transferred for d in self.disks)

    @property
    def stored_bytes_new(self) -> int:
        return sum(d.stored_bytes_new for d in self.disks)

    def chunk_hashes(self) -> set[str]:
        return {h for d in self.disks for h in d.chunks if h is not None}

    # --- JSON -------------------------------------------------------------
    def to_json(self) -> bytes:
        doc = {
            "format_version": self.format_version,
            "point_id": self.point_id,
            "item": self.item,
            "time": self.time.isoformat(),
            "consistency": self.consistency,
            "logical_bytes": self.logical_bytes,
            "bytes_read": self.bytes_read,
            "bytes_transferred": self.bytes_transferred,
            "stored_bytes_new": self.stored_bytes_new,
            "disks": [
                {
                    "key": d.key,
                    "size": d.size,
                    "change_id": d.change_id,
                    "chunk_size": d.chunk_size,
                    "logical_bytes": d.logical_bytes,
                    "bytes_read": d.bytes_read,
                    "bytes_transferred": d.bytes_transferred,
                    "stored_bytes_new": d.stored_bytes_new,
                    "chunks": d.chunks,
                }
                for d in self.disks
            ],
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        doc = json.loads(raw)
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported manifest format {doc.get('format_version')!r}")
        disks = []
        for d in doc["disks"]:
            chunks = [None if h is None else check_hash(h) for h in d["chunks"]]
            disks.append(
                DiskManifest(
                    key=str(d["key"]),
                    size=int(d["size"]),
                    change_id=str(d["change_id"]),
                    chunk_size=int(d["chunk_size"]),
                    chunks=chunks,
                    logical_bytes=int(d.get("logical_bytes", 0)),
                    bytes_read=int(d.get("bytes_read", 0)),
                    bytes_transferred=int(d.get("bytes_transferred", 0)),
                    stored_bytes_new=int(d.get("stored_bytes_new", 0)),
                )
            )
        return cls(
            point_id=check_id(doc["point_id"], "point_id"),
            item=check_id(doc["item"], "item"),
            time=datetime.fromisoformat(doc["time"]),
            consistency=str(doc["consistency"]),
            disks=tuple(disks),
        )
