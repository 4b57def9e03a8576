"""The chunk and marker format both kinds of store share (store.py: a folder, s3store.py: a bucket).

Chunk = 1 header byte (0 = raw, 1 = zstd) + payload; its name is the BLAKE3 hash of the *uncompressed*
data, checked on every read. The marker names the format, its version and the chunk size; a store without
it is not a store.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import blake3
import zstandard

from .errors import CorruptChunk, NotAStore

CHUNK_SIZE = 4 * 1024 * 1024
STORE_FORMAT = "vault-engine-store"
STORE_VERSION = 1
MARKER = "vault-store.json"
RAW, ZSTD = b"\x00", b"\x01"
ZSTD_LEVEL = 1  # level 1: ~GB/s per core; higher levels cost more than they save here
# Compressing a chunk of random or already compressed data costs as much as a good one and is thrown away
# (stored raw): three samples spread over the chunk decide first, for ~5% of a whole compression.
SAMPLE_BYTES = 64 * 1024
BAD_SUFFIX = ".bad"  # a quarantined chunk: <hash>.N.bad

_local = threading.local()  # zstd contexts are not thread-safe; one per thread


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_local, "cctx", None)
    if c is None:
        c = _local.cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "dctx", None)
    if d is None:
        d = _local.dctx = zstandard.ZstdDecompressor()
    return d


def _worth_compressing(data: bytes | memoryview) -> bool:
    n = len(data)
    if n <= 4 * SAMPLE_BYTES:
        return True
    view = memoryview(data)
    for start in (0, n // 2 - SAMPLE_BYTES // 2, n - SAMPLE_BYTES):
        if len(_compressor().compress(view[start : start + SAMPLE_BYTES])) < SAMPLE_BYTES - SAMPLE_BYTES // 32:
            return True
    return False


def hash_data(data: bytes | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def unpack(chunk_hash: str, raw: bytes, chunk_size: int) -> bytes:
    """Header + payload -> the chunk's data, re-hashed; CorruptChunk if it is not what its name says."""
    if not raw:
        raise CorruptChunk(chunk_hash, detail="empty file")
    header, payload = raw[:1], memoryview(raw)[1:]
    if header == RAW:
        data = bytes(payload)
    elif header == ZSTD:
        try:
            data = _decompressor().decompress(payload, max_output_size=chunk_size)
        except zstandard.ZstdError as exc:
            raise CorruptChunk(chunk_hash, detail=f"cannot decompress: {exc}") from None
    else:
        raise CorruptChunk(chunk_hash, detail="unknown header")
    if hash_data(data) != chunk_hash:
        raise CorruptChunk(chunk_hash, detail="hash mismatch")
    return data


def pack(data: bytes | memoryview) -> tuple[bytes, bytes | memoryview]:
    """(header, payload) of a chunk: zstd when it saves more than ~1.5%, else raw."""
    if _worth_compressing(data):
        packed = _compressor().compress(data)
        if len(packed) < len(data) - len(data) // 64:  # must save > ~1.5% to be worth a decompress
            return ZSTD, packed
    return RAW, data


@dataclass(frozen=True)
class StoreStats:
    chunk_count: int
    stored_bytes: int  # bytes of chunk files on disk
    logical_bytes: int  # sum of the allocated data of every recovery point


@dataclass(frozen=True)
class PutResult:
    written: bool  # False: the chunk already existed and was only touched
    payload_bytes: int  # compressed (or raw) bytes written
    file_bytes: int  # size of the new chunk file


def marker() -> bytes:
    """The marker a new store gets, written last: its presence means the layout is complete."""
    return json.dumps({"format": STORE_FORMAT, "version": STORE_VERSION, "chunk_size": CHUNK_SIZE}).encode()


def chunk_size_of_marker(where: object, raw: bytes) -> int:
    """The chunk size a store's marker declares; NotAStore naming `where` if it is not this format's."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise NotAStore(f"{where} is not a vault store ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != STORE_FORMAT:
        raise NotAStore(f"{where} is not a vault store (foreign marker)")
    if doc.get("version") != STORE_VERSION:
        raise NotAStore(f"{where}: unsupported store version {doc.get('version')!r}")
    return int(doc.get("chunk_size", CHUNK_SIZE))
