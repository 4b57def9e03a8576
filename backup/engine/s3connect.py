"""Reaching a store in a bucket: the client, the lean chunk reader and the local cache it works with, and the
layout checks of opening and creating a store (the marker, a prefix that holds something else)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chunkformat import MARKER, chunk_size_of_marker, marker
from .errors import NotAStore
from .s3cache import LocalCache, default_cache_dir
from .s3client import S3Location, call, is_not_found, make_client, make_session, parse_location
from .s3get import ChunkGetter
from .s3leases import LOCK_NAME

GENERATION = "gc-generation"
_KNOWN = {MARKER, "chunks", "manifests", "leases", "holds", LOCK_NAME, GENERATION}


@dataclass(frozen=True)
class Connection:
    where: S3Location
    client: Any
    cache: LocalCache
    getter: ChunkGetter | None  # None: chunks are read through boto3 (s3get.py says when)


def connect(location: str, options: Mapping[str, Any] | None) -> Connection:
    where = parse_location(location, options)
    session = make_session(options)
    client = make_client(where, session, options)
    getter = None
    if where.endpoint_url and (options or {}).get("path_style"):
        getter = ChunkGetter(where, session, client.meta.region_name)
    cache_dir = (options or {}).get("cache_dir")
    root = Path(cache_dir) if cache_dir else default_cache_dir(f"{where.endpoint_url}|{where.bucket}|{where.prefix}")
    return Connection(where, client, LocalCache(root), getter)


def check_bucket(connection: Connection) -> None:
    where = connection.where
    try:
        call(where, connection.client.head_bucket, Bucket=where.bucket)
    except Exception as exc:
        if is_not_found(exc):  # HeadBucket has no body, so no NoSuchBucket code
            raise NotAStore(f"the bucket of {where} does not exist") from None
        raise


def marker_chunk_size(connection: Connection) -> int:
    """The chunk size the store's marker declares; NotAStore without a marker of this format."""
    where, client = connection.where, connection.client
    try:
        raw = call(where, client.get_object, Bucket=where.bucket, Key=where.key(MARKER))["Body"].read()
    except Exception as exc:
        if is_not_found(exc):
            raise NotAStore(f"{where} is not a vault store (no {MARKER})") from None
        raise
    return chunk_size_of_marker(where, raw)


def lay_out(connection: Connection) -> None:
    """Make a new store under the prefix, refusing a prefix that holds anything but a store's objects."""
    where, client = connection.where, connection.client
    page = call(where, client.list_objects_v2, Bucket=where.bucket, Prefix=where.prefix, Delimiter="/", MaxKeys=50)
    names = [o["Key"][len(where.prefix) :] for o in page.get("Contents", [])]
    names += [p["Prefix"][len(where.prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    foreign = [n for n in names if n not in _KNOWN]
    if foreign:
        raise NotAStore(f"{where} is not empty and is not a vault store (found {sorted(foreign)[:3]})")
    # A generation of its own from the start: a local index left by an earlier store at this location (deleted
    # and made again, or a reused cache folder) must never vouch for chunks this one does not hold.
    call(where, client.put_object, Bucket=where.bucket, Key=where.key(GENERATION), Body=secrets.token_hex(8).encode())
    call(where, client.put_object, Bucket=where.bucket, Key=where.key(MARKER), Body=marker())
