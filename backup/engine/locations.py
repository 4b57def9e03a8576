"""Where a store lives: a location string names a folder (a path) or, for object storage, a bucket URL.

Callers outside the engine open stores only through these two functions, so a new kind of location
needs no change above the engine.
"""

from __future__ import annotations

import os

from .store import Store


def open_store(location: str | os.PathLike) -> Store:
    """Open the existing store at `location`; NotAStore when there is none."""
    return Store.open(location)


def init_store(location: str | os.PathLike) -> Store:
    """Create the store at `location` (idempotent) and return it opened."""
    return Store.init(location)
