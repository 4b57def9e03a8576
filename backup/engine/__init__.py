"""Backup engine: the vault's content-addressed store and backup algorithms.

A store is a folder (store.Store, laid out below) or a bucket prefix of an S3-compatible object storage
(s3store.S3Store, see "Object-storage stores"); every operation takes either (backends.VaultStore).

Plain Python: no Django, Celery or backup.fabric imports (import-linter
contract). The fabric satisfies protocols.SnapshotDisk / Snapshot
structurally.

Store layout (store.py)
-----------------------
    <store>/vault-store.json         marker {"format": "vault-engine-store", "version": 1,
                                      "chunk_size": 4194304}; written last by Store.init
    <store>/chunks/<hh>/<hash>       chunk files, 256 pre-created fan-out dirs (hh = hash[:2])
    <store>/chunks/<hh>/<hash>.N.bad quarantined (corrupt) chunks, kept for an operator
    <store>/manifests/<point>.json   committed recovery points
    <store>/leases/<random>.lease    running backups (leases.py)
    <store>/holds/<item>.json        soft-deleted items kept until their purge time (holds.py)
    <store>/gc.lock                  flock held by a running GC
Every path is derived from a validated id ([A-Za-z0-9_-]{1,64}) or a 64-hex
hash, never from a user-given name. Dot files (".tmp-*", ".gc-*") are
invisible to readers.

Chunks
------
Fixed 4 MiB chunks (chunkformat.py, shared by both kinds of store; the last
chunk of a disk may be shorter). Name = BLAKE3 of the uncompressed data. File = 1 header byte
(0x00 raw, 0x01 zstd level 1) + payload; raw when zstd saves < ~1.5 %.
Chunks are shared by every item of the store (dedup): if the file exists it
is not rewritten, only touched (utime), which GC relies on. Every read
decompresses and re-hashes, so corruption is always detected; a chunk found
corrupt is quarantined: renamed to <hh>/<hash>.N.bad (kept, never swept by
GC). Its own name is then free, so touch fails and the next backup holding
that data reads it again and rewrites it, repairing every point sharing it.

Manifest (manifest.py)
----------------------
JSON: format_version, point_id, item, time (ISO 8601), consistency, totals,
and per disk: key, size, change_id, chunk_size, logical_bytes (allocated
data), bytes_read, bytes_transferred (new compressed bytes), stored_bytes_new,
and "chunks": one entry per chunk index, a hash or null (hole or all zeros).

Backup (backup.py)
------------------
Per disk and chunk: unallocated -> null (never read); with a usable base
(same key, size and chunk size, changed_ranges_since(base change id) not
None) chunks outside the changed ranges copy the base reference (touched; if
GC removed it meanwhile the chunk is read again); everything else is read,
zero-checked, hashed, compressed and written by a pool of 4 * `workers` threads
(IO-bound: pread and the writes dominate) with at most threads + 2 chunks in flight
(memory independent of disk size).

Restore (restore.py)
--------------------
Per referenced chunk, a pool of 4 * `workers` threads reads it through
Store.read_chunk (decompressed and re-hashed), pwrites its non-zero 64 KiB
runs into the new file (holes stay holes) and writes that range back and drops
its page cache (fsutil.write_back: sync_file_range, then fadvise DONTNEED), so
at most threads + 2 chunks are in memory and the cache does not fill with the
image; one fsync per file at the end. Any failure removes the new files;
ENOSPC/EDQUOT on the target -> StoreFull.

Crash safety
------------
Each chunk: write .tmp-* in its fan-out dir; then, in batches of about
512 MiB (pending.py), one syncfs for the batch and the renames. Before the
manifest is committed, the fan-out dirs holding its chunks are fsynced (one
batched fsync per dir instead of one per chunk). The manifest itself is
written the same tmp+fsync+rename+dir-fsync way, last. So after SIGKILL or
power loss at any point: no half manifest is visible, a visible chunk file
is always complete, and leftovers are only dot files that readers ignore and
GC deletes once they are older than its cutoff. A retried backup whose
manifest was committed returns it (idempotent on point_id); otherwise it
simply redoes the work, deduplicating against the chunks already written.
ENOSPC/EDQUOT -> StoreFull, the temporary file is removed, no manifest; any
other write error -> StoreUnavailable (read-only or failing store). A backup
that fails or is cancelled (not killed) then removes the chunks it wrote
itself: new chunk files carry a marker access time (store.FRESH_ATIME_NS)
that any touch replaces, and they are swept like GC does (rename, re-stat,
put back if touched), so a chunk another backup deduplicated onto survives.
StoreFull then carries needed_bytes (at most) and free_bytes.

GC and leases (gc.py, leases.py)
--------------------------------
A backup holds a lease file (pid, host, start time) for its whole run and
heartbeats it (mtime) every 30 s; a lease is stale after 10 minutes without
heartbeat or when its pid is dead on this host. Every chunk a backup relies
on gets mtime >= its lease start (written or touched). GC takes gc.lock,
records t0, reads live leases, then reads all manifests (mark), and sweeps
unreferenced chunks with mtime < min(t0, oldest live lease start) - grace.
Sweeping renames to .gc-<hash>, re-stats and renames back if a backup
touched it meanwhile; a backup touching after the rename sees ENOENT and
rewrites the chunk. prune()/delete_item() only delete manifests (rename to
a trash name, unlink, dir fsync); GC frees the chunks later.

Object-storage stores (s3store.py; s3connect, s3objects, s3leases, s3gc, s3known, s3cache, s3get)
--------------------------------------------------------------------------------------------------
locations.open_store / init_store take a path or `s3://BUCKET/PREFIX` plus options (endpoint_url, region,
access_key_id, secret_access_key, path_style, cache_dir; boto3's environment fills what is missing). Same
format under PREFIX: chunks/<hh>/<hash> objects with the 1-byte header, manifests/<point>.json PUT only
after every chunk PUT it names returned (a PUT is atomic and durable: a killed backup leaves whole,
unreferenced chunks and a lease), holds/<item>.json, the marker written last by init. S3 has no rename, no
flock and no cheap touch, so GC and backups exclude each other instead of sweeping side by side: a backup
PUTs leases/<id>.lease (rewritten every 30 s) then checks gc.lock; GC creates gc.lock with a conditional
PUT (If-None-Match) then lists leases and is postponed (GcReport.postponed) if one is live. Each writes
before it reads and S3 is strongly consistent, so they never overlap; stale objects (no rewrite for the
lease timeout, or a dead pid on this host) are ignored, a stale gc.lock is deleted by ETag. Under a lease,
touch_chunk is an existence check answered by a local index of known chunks (listed once per GC
generation: gc-generation is rewritten before anything deletes chunks, GC, quarantine or a failed backup's
clean-up). A corrupt chunk is copied to <hash>.N.bad and deleted by ETag. The local cache also keeps
manifests (by ETag) and an LRU of recently read chunks; verify reads the bucket's copy (use_cache=False), and
a restore of more than half the LRU adds nothing to it (keep=False). With an explicit path-style endpoint,
chunks are read by one signed urllib3 GET each (s3get.py) instead of boto3's request pipeline (~1 ms of Python
per GET instead of ~2.5 ms).
A failed backup deletes the chunks it PUT only under the GC lock, when no other backup runs, and keeps
those a manifest names.

Soft delete (holds.py)
----------------------
A soft-deleted item keeps its manifests in place (so they stay GC roots and GC never frees their chunks)
and gets a hold with its purge time; prune()/delete_item() refuse its points until then. Undelete and
purge release the hold.

Replication (replicate.py)
--------------------------
A geo-redundant vault has a second store: replicate_point copies one point's missing chunks (read and
re-hashed on the way, written with put_chunk), syncs the chunk dirs, then commits the manifest last, so the
copy holds a point whole or not at all. Deletions never travel with it: the caller deletes on the copy later.

Retention (retention.py)
------------------------
Pure GFS selection: see select_points_to_prune. The weekly, monthly and yearly
rules keep the points of the days they name (weekdays; DayPattern: day-based or
week-based, in some months), or the newest of each bucket when they name none.
On-demand points are kept for the daily rule's days; the newest intact (not
damaged) point is kept.
"""

from .backends import VaultStore
from .backup import backup_snapshot
from .chunkformat import CHUNK_SIZE, StoreStats
from .errors import (
    Cancelled,
    ChunkError,
    CorruptChunk,
    EngineError,
    MissingChunk,
    NotAStore,
    StoreFull,
    StoreUnavailable,
)
from .gc import GcReport, collect_garbage
from .holds import ItemHeld, held_until, hold_item, holds, release_item
from .locations import destroy_store, init_store, open_store, probe_location
from .manifest import DiskManifest, Manifest
from .protocols import CancelCheck, ProgressSink, Snapshot, SnapshotDisk
from .prune import delete_item, prune
from .replicate import ReplicationResult, missing_points, replicate_point
from .restore import RestoreResult, restore_point
from .retention import LAST_DAY, LAST_WEEK, DayPattern, RetentionPolicy, select_points_to_prune
from .s3store import S3Store
from .store import Store
from .verify import ChunkProblem, VerifyReport, verify

__all__ = [
    "CHUNK_SIZE",
    "CancelCheck",
    "Cancelled",
    "ChunkError",
    "ChunkProblem",
    "CorruptChunk",
    "DiskManifest",
    "EngineError",
    "GcReport",
    "ItemHeld",
    "Manifest",
    "MissingChunk",
    "NotAStore",
    "ProgressSink",
    "ReplicationResult",
    "RestoreResult",
    "DayPattern",
    "LAST_DAY",
    "LAST_WEEK",
    "RetentionPolicy",
    "Snapshot",
    "SnapshotDisk",
    "S3Store",
    "Store",
    "StoreFull",
    "StoreUnavailable",
    "StoreStats",
    "VaultStore",
    "VerifyReport",
    "backup_snapshot",
    "collect_garbage",
    "delete_item",
    "destroy_store",
    "held_until",
    "hold_item",
    "init_store",
    "open_store",
    "probe_location",
    "holds",
    "missing_points",
    "prune",
    "replicate_point",
    "release_item",
    "restore_point",
    "select_points_to_prune",
    "verify",
]
