"""Deleting recovery points (manifests only; gc.py frees the chunks later)."""

from __future__ import annotations

from collections.abc import Iterable

from .backends import VaultStore
from .errors import EngineError
from .holds import check_not_held, holds
from .manifest import check_id


def prune(store: VaultStore, point_ids: Iterable[str]) -> list[str]:
    """Delete the manifests of `point_ids` atomically; return the ids actually removed. Refuses (ItemHeld),
    removing nothing, when one of them belongs to an item held by soft delete."""
    point_ids = [check_id(pid, "point_id") for pid in point_ids]
    if holds(store):
        items = set()
        for pid in point_ids:
            try:
                items.add(store.load_manifest(pid).item)
            except EngineError:
                continue  # already gone
        check_not_held(store, items)
    removed = []
    for pid in point_ids:
        if store.delete_manifest(pid):
            removed.append(pid)
    return removed


def delete_item(store: VaultStore, item: str) -> list[str]:
    """Delete every recovery point of `item`; collect_garbage() then frees its chunks."""
    check_id(item, "item")
    return prune(store, [m.point_id for m in store.list_manifests(item)])
