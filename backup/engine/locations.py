"""Where a store lives: a location string names a folder (a path) or, for object storage, a bucket URL.

Callers outside the engine open stores only through these two functions, so a new kind of location
needs no change above the engine. `options` carries what a bucket needs besides its URL (endpoint_url,
region, access_key_id, secret_access_key, path_style, cache_dir); a folder ignores it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import NotAStore
from .store import Store

BUCKET_SCHEME = "s3://"


def _folder(location: str | os.PathLike) -> str | os.PathLike:
    if str(location).startswith(BUCKET_SCHEME):
        raise NotAStore(f"{location}: this engine has no object storage backend (only folder stores)")
    return location


def open_store(location: str | os.PathLike, options: Mapping | None = None) -> Store:
    """Open the existing store at `location`; NotAStore when there is none."""
    return Store.open(_folder(location))


def init_store(location: str | os.PathLike, options: Mapping | None = None) -> Store:
    """Create the store at `location` (idempotent) and return it opened."""
    return Store.init(_folder(location))
