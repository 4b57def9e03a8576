"""Where a store lives: a location string names a folder (a path) or, for object storage, a bucket URL.

    /some/folder                       a folder store (store.py)
    s3://BUCKET/PREFIX                 an S3-compatible bucket (s3store.py)

`options` (object storage only) is a plain mapping with optional keys endpoint_url, region, access_key_id,
secret_access_key, path_style (bool, for local servers) and cache_dir; what is missing comes from boto3's
environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION).

Callers outside the engine reach stores only through these functions (open, init, probe a location before any
store is made there, destroy a store with everything in it), so a new kind of location needs no change above the
engine; a folder ignores `options`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

from .backends import VaultStore
from .chunkformat import MARKER
from .errors import NotAStore
from .s3client import call, is_not_found, is_s3_location, make_client, make_session, parse_location
from .s3store import S3Store
from .store import Store


def open_store(location: str | os.PathLike, options: Mapping[str, Any] | None = None) -> VaultStore:
    """Open the existing store at `location`; NotAStore when there is none, StoreUnavailable when the
    object storage cannot be reached or refuses the credentials."""
    if is_s3_location(location):
        return S3Store.open(str(location), options)
    return Store.open(location)


def init_store(location: str | os.PathLike, options: Mapping[str, Any] | None = None) -> VaultStore:
    """Create the store at `location` (idempotent) and return it opened."""
    if is_s3_location(location):
        return S3Store.init(str(location), options)
    return Store.init(location)


def probe_location(location: str | os.PathLike, options: Mapping[str, Any] | None = None) -> None:
    """Check that stores can be made at `location` before any vault uses it: a bucket must exist and answer
    with these credentials (NotAStore / StoreUnavailable say which it is not). Folders are checked by the caller."""
    if is_s3_location(location):
        where = parse_location(str(location), options)
        client = make_client(where, make_session(options), options)
        try:
            call(where, client.head_bucket, Bucket=where.bucket)
        except Exception as exc:
            if is_not_found(exc):  # HeadBucket has no body, so no NoSuchBucket code
                raise NotAStore(f"the bucket of {where} does not exist") from None
            raise


def destroy_store(location: str | os.PathLike, options: Mapping[str, Any] | None = None) -> None:
    """Delete the store at `location` and everything in it; nothing there is no error."""
    if not is_s3_location(location):
        if os.path.exists(location):
            shutil.rmtree(location)
        return
    try:
        store = S3Store.open(str(location), options)
    except NotAStore:
        return
    names = [entry["Name"] for entry in store.objects.list_names("")]
    # The marker goes last, so a deletion cut short leaves a store that is still recognised and deleted again.
    store.objects.delete_many([n for n in names if n != MARKER])
    store.objects.delete_many([MARKER])
    shutil.rmtree(store.cache.root, ignore_errors=True)
