"""Where a store lives: a location string names a folder (a path) or, for object storage, a bucket URL.

    /some/folder                       a folder store (store.py)
    s3://BUCKET/PREFIX                 an S3-compatible bucket (s3store.py)

`options` (object storage only) is a plain mapping with optional keys endpoint_url, region, access_key_id,
secret_access_key, path_style (bool, for local servers) and cache_dir; what is missing comes from boto3's
environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION).

Callers outside the engine open stores only through these two functions, so a new kind of location
needs no change above the engine; a folder ignores `options`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .backends import VaultStore
from .s3client import is_s3_location
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
