"""Holds: a soft-deleted item's recovery points stay in the store, as GC roots, until their purge time.

    <store>/holds/<item>.json    (a file, or an object of an S3 store) {"item": ..., "until": ISO 8601}

A held item's manifests are not touched: they stay where every reader (restore, verify, GC's mark) finds
them, so GC never frees their chunks. prune() and delete_item() refuse to remove a held item's manifests
before `until`; the portal releases the hold on undelete, and when it purges.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from .backends import VaultStore
from .errors import EngineError
from .manifest import check_id


class ItemHeld(EngineError):
    """The item's data is soft deleted and may not be removed before its purge time."""


def hold_item(store: VaultStore, item: str, until: datetime) -> None:
    """Keep every point of `item` until `until` (an aware datetime); a second hold replaces the first."""
    if until.tzinfo is None:
        raise ValueError("until must be timezone-aware")
    doc = {"item": check_id(item, "item"), "until": until.astimezone(UTC).isoformat()}
    store.put_hold(item, json.dumps(doc).encode())


def release_item(store: VaultStore, item: str) -> bool:
    return store.delete_hold(item)


def held_until(store: VaultStore, item: str) -> datetime | None:
    try:
        raw = store.read_hold(item)
        if raw is None:
            return None
        doc = json.loads(raw)
    except (OSError, ValueError) as exc:  # an unreadable hold still holds: refuse rather than lose data
        raise ItemHeld(f"item {item} has an unreadable hold ({exc}); an operator must check it") from None
    return datetime.fromisoformat(doc["until"])


def holds(store: VaultStore) -> dict[str, datetime]:
    """Every held item and its purge time."""
    found = {}
    for item in store.held_items():
        until = held_until(store, item)
        if until is not None:
            found[item] = until
    return found


def check_not_held(store: VaultStore, items: set[str], now: datetime | None = None) -> None:
    """Raise ItemHeld if any of `items` is held past `now`."""
    moment = now or datetime.now(UTC)
    for item in sorted(items):
        until = held_until(store, item)
        if until is not None and until > moment:
            raise ItemHeld(
                f"the recovery points of {item} are soft deleted and held until {until:%Y-%m-%d %H:%M} "
                "UTC; they cannot be removed before then"
            )
