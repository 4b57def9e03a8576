"""Typed exceptions of the backup engine.

The Django services translate these into user-facing messages, so every
message is written to be shown as is.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class NotAStore(EngineError):
    """The folder is not a vault store (missing or foreign marker file)."""


class Cancelled(EngineError):
    """The caller's cancel check returned True; nothing was committed."""


class StoreFull(EngineError):
    """Writing failed with ENOSPC/EDQUOT; temporary files were removed.

    A failed backup fills in how much new space it would have needed at most, and how much the store's
    file system has free once the chunks only it had written are removed again."""

    def __init__(
        self,
        message: str = "vault storage is full",
        *,
        needed_bytes: int | None = None,
        free_bytes: int | None = None,
    ) -> None:
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes


class StoreUnavailable(EngineError):
    """The store cannot be written for another reason than space: read-only, permissions, I/O error."""


class ChunkError(EngineError):
    """A chunk cannot be used. Carries where it is referenced, when known."""

    kind = "bad"

    def __init__(
        self,
        chunk_hash: str,
        *,
        point_id: str | None = None,
        disk_key: str | None = None,
        detail: str = "",
    ) -> None:
        self.chunk_hash = chunk_hash
        self.point_id = point_id
        self.disk_key = disk_key
        self.detail = detail
        where = ""
        if point_id is not None:
            where = f" in recovery point {point_id}"
            if disk_key is not None:
                where += f", disk {disk_key}"
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{self.kind} chunk {chunk_hash}{where}{extra}")

    def located(self, point_id: str, disk_key: str) -> ChunkError:
        """Return the same error annotated with the point and disk using it."""
        return type(self)(self.chunk_hash, point_id=point_id, disk_key=disk_key, detail=self.detail)


class CorruptChunk(ChunkError):
    """Chunk content does not decompress or does not match its hash."""

    kind = "corrupt"


class MissingChunk(ChunkError):
    """A manifest references a chunk that is not in the store."""

    kind = "missing"
