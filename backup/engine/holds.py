"""Holds: a soft-deleted item's recovery points stay in the store, as GC roots, until their purge time.

    <store>/holds/<item>.json    {"item": ..., "until": ISO 8601}

A held item's manifests are not touched: they stay where every reader (restore, verify, GC's mark) finds
them, so GC never frees their chunks. prune() and delete_item() refuse to remove a held item's manifests
before `until`; the portal releases the hold on undelete, and when it purges.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from . import fsutil
from .errors import EngineError
from .manifest import check_id
from .store import Store


class ItemHeld(EngineError):
    """The item's data is soft deleted and may not be removed before its purge time."""


def _dir(store: Store):
    return store.root / "holds"


def _path(store: Store, item: str):
    return _dir(store) / f"{check_id(item, 'item')}.json"


def hold_item(store: Store, item: str, until: datetime) -> None:
    """Keep every point of `item` until `until` (an aware datetime); a second hold replaces the first."""
    if until.tzinfo is None:
        raise ValueError("until must be timezone-aware")
    _dir(store).mkdir(exist_ok=True)
    doc = {"item": item, "until": until.astimezone(UTC).isoformat()}
    fsutil.write_file_durable(_path(store, item), [json.dumps(doc).encode()])


def release_item(store: Store, item: str) -> bool:
    try:
        os.unlink(_path(store, item))
    except FileNotFoundError:
        return False
    fsutil.fsync_dir(_dir(store))
    return True


def held_until(store: Store, item: str) -> datetime | None:
    try:
        doc = json.loads(_path(store, item).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # an unreadable hold still holds: refuse rather than lose data
        raise ItemHeld(f"item {item} has an unreadable hold ({exc}); an operator must check it") from None
    return datetime.fromisoformat(doc["until"])


def holds(store: Store) -> dict[str, datetime]:
    """Every held item and its purge time."""
    if not _dir(store).is_dir():
        return {}
    found = {}
    for entry in os.scandir(_dir(store)):
        if entry.name.endswith(".json") and not entry.name.startswith("."):
            item = entry.name[: -len(".json")]
            until = held_until(store, item)
            if until is not None:
                found[item] = until
    return found


def check_not_held(store: Store, items: set[str], now: datetime | None = None) -> None:
    """Raise ItemHeld if any of `items` is held past `now`."""
    moment = now or datetime.now(UTC)
    for item in sorted(items):
        until = held_until(store, item)
        if until is not None and until > moment:
            raise ItemHeld(
                f"the recovery points of {item} are soft deleted and held until {until:%Y-%m-%d %H:%M} "
                "UTC; they cannot be removed before then"
            )
