"""The chunks a bucket store is known to hold, so a backup need not ask the server about each one.

Trusted only while a lease is held through the store (no GC can delete then, s3leases.py), and only for the
bucket's current gc-generation: GC rewrites the generation before it deletes anything, which drops every
index built before.
"""

from __future__ import annotations

import threading


class KnownChunks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leased = 0  # leases held through the store: the index may be trusted
        self._known: set[str] = set()
        self.generation = ""

    @property
    def leased(self) -> bool:
        with self._lock:
            return self._leased > 0

    def load(self, generation: str, known: set[str]) -> None:
        with self._lock:
            self._known, self.generation = known, generation

    def forget(self) -> None:
        with self._lock:
            self._known.clear()
            self.generation = ""

    def enter(self) -> None:
        with self._lock:
            self._leased += 1

    def leave(self) -> tuple[str, set[str]]:
        """One lease ended; the index as it stands, for the local cache."""
        with self._lock:
            self._leased -= 1
            return self.generation, set(self._known)

    def vouches_for(self, chunk_hash: str) -> bool:
        with self._lock:
            return self._leased > 0 and chunk_hash in self._known

    def add(self, chunk_hash: str) -> None:
        with self._lock:
            if self._leased > 0:
                self._known.add(chunk_hash)
