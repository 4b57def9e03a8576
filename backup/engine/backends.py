"""The two kinds of vault store. Every engine operation takes either; they share one method surface
(touch_chunk, put_chunk, sync_chunk_dirs, read_chunk, quarantine_chunk, quarantined, commit_manifest,
load_manifest, has_manifest, list_manifests, delete_manifest, stats, lease, new_pending,
discard_fresh_chunks, free_bytes and the hold methods)."""

from __future__ import annotations

from typing import TypeAlias

from .s3store import S3Store
from .store import Store

VaultStore: TypeAlias = Store | S3Store
