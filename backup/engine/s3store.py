"""A vault store in an S3-compatible bucket: the same chunk and manifest format as the folder store.

    PREFIX/vault-store.json           marker (as store.py), written last by init
    PREFIX/chunks/<hh>/<hash>         one object per chunk: 1 header byte + payload (chunkformat.py)
    PREFIX/chunks/<hh>/<hash>.N.bad   a quarantined chunk (copied there, then the original deleted by ETag)
    PREFIX/manifests/<point>.json     committed points, PUT only after every chunk PUT they name returned
    PREFIX/holds/<item>.json          soft-delete holds (holds.py)
    PREFIX/leases/<random>.lease      running backups; PREFIX/gc.lock a running GC (s3leases.py)
    PREFIX/gc-generation              rewritten before anything deletes chunks (invalidates local indexes)

A PUT is atomic and durable when it returns, so a killed backup leaves only whole chunk objects that no
manifest names; GC removes them once its lease is stale. GC and backups exclude each other (s3leases.py);
a chunk is "touched" by existing: touch_chunk() is an existence check, safe for whoever holds a lease
(store.lease()), since no GC can delete between the check and the manifest's commit. A writer without a
lease (e.g. a copy between stores) is protected only by GC's grace period, for the chunks it PUT itself.
The local cache (s3cache.py) keeps manifests, recently read chunks and the known-chunk index; reaching the
bucket and the layout checks of opening and creating a store are s3connect.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .chunkformat import BAD_SUFFIX, CHUNK_SIZE, PutResult, StoreStats, pack, unpack
from .errors import CorruptChunk, EngineError, MissingChunk, NotAStore
from .leases import DEFAULT_TIMEOUT_S
from .manifest import Manifest, check_hash, check_id
from .pending import ChunkReservations
from .s3cache import LocalCache
from .s3client import S3Location, call, is_not_found, is_precondition_failed
from .s3connect import GENERATION, Connection, check_bucket, connect, lay_out, marker_chunk_size
from .s3get import ChunkGetter
from .s3known import KnownChunks
from .s3leases import LeaseBook
from .s3objects import PrefixObjects

GC_WAIT_S = 3600.0  # how long a backup waits for a running GC before it fails


class S3Store:
    def __init__(
        self, where: S3Location, client: Any, chunk_size: int, cache: LocalCache, getter: ChunkGetter | None = None
    ) -> None:
        self.where = where
        self.client = client
        self.chunk_size = chunk_size
        self.cache = cache
        self.objects = PrefixObjects(where, client, getter)
        self.gc_wait_s = GC_WAIT_S
        self.known = KnownChunks()

    def __repr__(self) -> str:
        return f"S3Store({self.where})"

    # --- creation -----------------------------------------------------------
    @classmethod
    def _of(cls, connection: Connection, chunk_size: int) -> S3Store:
        return cls(connection.where, connection.client, chunk_size, connection.cache, connection.getter)

    @classmethod
    def init(cls, location: str, options: Mapping[str, Any] | None = None) -> S3Store:
        """Create a store under the bucket prefix (idempotent). The bucket must exist; a foreign prefix is refused."""
        connection = connect(location, options)
        check_bucket(connection)
        try:
            return cls._of(connection, marker_chunk_size(connection))
        except NotAStore:
            pass
        lay_out(connection)
        return cls._of(connection, CHUNK_SIZE)

    @classmethod
    def open(cls, location: str, options: Mapping[str, Any] | None = None) -> S3Store:
        connection = connect(location, options)
        return cls._of(connection, marker_chunk_size(connection))

    # --- leases, generations and the known-chunk index --------------------------
    def lease_book(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> LeaseBook:
        return LeaseBook(self.where, self.client, timeout_s)

    @contextmanager
    def lease(self, purpose: str) -> Iterator[object]:
        """Hold a backup lease: no GC runs until it is released, so existing chunks stay (see s3leases.py)."""
        held = self.lease_book().hold_lease(purpose, self.gc_wait_s)
        try:
            self._load_known()
            self.known.enter()
            try:
                yield held
            finally:
                self.cache.save_known(*self.known.leave())
        finally:
            held.release()

    def generation(self) -> str:
        obj = self.objects.get(GENERATION)
        return obj["Body"].read().decode() if obj is not None else "initial"

    def new_generation(self) -> None:
        """Called before chunks are deleted: every local index built before is dropped."""
        self.objects.put(GENERATION, secrets.token_hex(8).encode())
        self.known.forget()

    def _load_known(self) -> None:
        generation = self.generation()
        if self.known.generation == generation:
            return
        known = self.cache.known(generation)
        if known is None:
            known = {h for h, _, _ in self.iter_chunks()}
            self.cache.save_known(generation, known)
        self.known.load(generation, known)

    # --- chunks -------------------------------------------------------------------
    @staticmethod
    def chunk_name(chunk_hash: str) -> str:
        return f"chunks/{chunk_hash[:2]}/{chunk_hash}"

    def has_chunk(self, chunk_hash: str) -> bool:
        """Whether the chunk object is there (a HEAD, nothing read)."""
        return self.objects.head(self.chunk_name(check_hash(chunk_hash))) is not None

    def touch_chunk(self, chunk_hash: str) -> bool:
        """True if the chunk exists. Under a lease that is all GC needs (module docstring)."""
        if self.known.vouches_for(chunk_hash):
            return True
        if self.objects.head(self.chunk_name(chunk_hash)) is None:
            return False
        self.known.add(chunk_hash)
        return True

    def put_chunk(
        self, chunk_hash: str, data: bytes | memoryview, pending: ChunkReservations | None = None
    ) -> PutResult:
        """PUT the chunk unless it is known to exist. Under a lease the index, listed when it was taken, is
        asked instead of a HEAD per chunk: a chunk another backup PUT since is PUT again (same bytes)."""
        if self.known.vouches_for(chunk_hash) or (not self.known.leased and self.touch_chunk(chunk_hash)):
            return PutResult(False, 0, 0)
        if pending is not None and not pending.reserve(chunk_hash):
            return PutResult(False, 0, 0)
        header, payload = pack(data)
        try:
            self.objects.put(self.chunk_name(chunk_hash), header + bytes(payload))
        except BaseException:
            if pending is not None:
                pending.release(chunk_hash)
            raise
        self.known.add(chunk_hash)
        return PutResult(True, len(payload), len(payload) + 1)

    def sync_chunk_dirs(self, prefixes: set[str] | None = None) -> None:
        """Nothing to do: a PUT is durable when it returns."""

    def new_pending(self) -> ChunkReservations:
        return ChunkReservations()

    def read_chunk(
        self, chunk_hash: str, expected_length: int | None = None, *, use_cache: bool = True, keep: bool = True
    ) -> bytes:
        """The uncompressed chunk; MissingChunk / CorruptChunk. use_cache=False checks the bucket's copy;
        keep=False looks in the cache but adds nothing to it (a read of more than the cache holds)."""
        check_hash(chunk_hash)
        data = self._read_cached(chunk_hash) if use_cache else None
        if data is None:
            found = self.objects.read(self.chunk_name(chunk_hash))
            if found is None:
                if self.quarantined(chunk_hash):
                    raise CorruptChunk(chunk_hash, detail="quarantined") from None
                raise MissingChunk(chunk_hash)
            raw, etag = found
            try:
                data = unpack(chunk_hash, raw, self.chunk_size)
            except CorruptChunk:
                self.quarantine_chunk(chunk_hash, etag=etag)
                raise
            if use_cache and keep:
                self.cache.offer_chunk(chunk_hash, raw)
        if expected_length is not None and len(data) != expected_length:
            raise CorruptChunk(chunk_hash, detail=f"length {len(data)} != {expected_length}")
        return data

    @property
    def chunk_cache_bytes(self) -> int:
        return self.cache.chunk_bytes

    def _read_cached(self, chunk_hash: str) -> bytes | None:
        raw = self.cache.chunk(chunk_hash)
        if raw is None:
            return None
        try:
            return unpack(chunk_hash, raw, self.chunk_size)
        except CorruptChunk:  # the local copy rotted, not the bucket's: drop it and fetch again
            self.cache.drop_chunk(chunk_hash)
            return None

    def quarantine_chunk(self, chunk_hash: str, etag: str | None = None) -> str | None:
        """Copy a corrupt chunk to `<hash>.N.bad`, then delete it (only if it is still `etag`, the copy found
        corrupt: a backup may have rewritten it meanwhile). Returns the .bad key, None if it was not there."""
        check_hash(chunk_hash)
        name = self.chunk_name(chunk_hash)
        head = self.objects.head(name)
        if head is None or (etag is not None and head["ETag"] != etag):
            return None
        taken = {k.rsplit("/", 1)[-1] for k in self.quarantined(chunk_hash)}
        n = next(i for i in range(len(taken) + 1) if f"{chunk_hash}.{i}{BAD_SUFFIX}" not in taken)
        bad = f"{name}.{n}{BAD_SUFFIX}"
        source = {"Bucket": self.where.bucket, "Key": self.where.key(name)}
        try:
            call(
                self.where, self.client.copy_object, Bucket=self.where.bucket, Key=self.where.key(bad),
                CopySource=source, CopySourceIfMatch=head["ETag"],
            )  # fmt: skip
        except Exception as exc:
            if is_precondition_failed(exc) or is_not_found(exc):
                return None
            raise
        self.new_generation()  # local indexes must forget it, so the next backup writes it again
        try:
            self.objects.delete(name, IfMatch=head["ETag"])
        except Exception as exc:
            if not (is_precondition_failed(exc) or is_not_found(exc)):
                raise
        return self.where.key(bad)

    def quarantined(self, chunk_hash: str) -> list[str]:
        """Keys of the `.bad` copies kept for a chunk, oldest first."""
        found = []
        for entry in self.objects.list_names(f"{self.chunk_name(chunk_hash)}."):
            n = entry["Name"].rsplit("/", 1)[-1].split(".")
            if len(n) == 3 and n[2] == BAD_SUFFIX[1:] and n[1].isdigit():
                found.append((int(n[1]), entry["Key"]))
        return [k for _, k in sorted(found)]

    def iter_chunks(self) -> Iterator[tuple[str, int, float]]:
        """(hash, size, LastModified) of every chunk object, quarantined ones excluded."""
        for entry in self.objects.list_names("chunks/"):
            leaf = entry["Name"].rsplit("/", 1)[-1]
            if "." not in leaf:
                yield leaf, int(entry["Size"]), entry["LastModified"].timestamp()

    def discard_fresh_chunks(self, hashes: set[str]) -> int:
        """Delete the chunks a failed backup PUT that no manifest names, unless another backup runs (it may
        have deduplicated onto them: GC frees them later then). Under the GC lock, so no backup starts
        meanwhile; the manifests are read after it, so a backup that finished and shares one keeps it."""
        if not hashes:
            return 0
        book = self.lease_book()
        try:
            lock = book.take_gc_lock()
        except EngineError:
            return 0
        try:
            if len(book.live_leases()) > 1:  # ours and another
                return 0
            named = set().union(*(m.chunk_hashes() for m in self.list_manifests()))
            heads = {h: self.objects.head(self.chunk_name(h)) for h in hashes - named}
            present = {h: int(head["ContentLength"]) for h, head in heads.items() if head is not None}
            if present:
                self.new_generation()
                self.objects.delete_many([self.chunk_name(h) for h in present])
            return sum(present.values())
        finally:
            lock.release()

    def free_bytes(self) -> int | None:
        return None  # a bucket has no free space to speak of

    # --- manifests ----------------------------------------------------------------
    @staticmethod
    def manifest_name(point_id: str) -> str:
        return f"manifests/{check_id(point_id, 'point_id')}.json"

    def has_manifest(self, point_id: str) -> bool:
        return self.objects.head(self.manifest_name(point_id)) is not None

    def commit_manifest(self, manifest: Manifest) -> None:
        """Publish a manifest. Every chunk it names must have been PUT (or found) before."""
        self.objects.put(self.manifest_name(manifest.point_id), manifest.to_json())

    def _manifest(self, point_id: str, etag: str | None) -> Manifest | None:
        if etag is not None:
            raw = self.cache.manifest(point_id, etag)
            if raw is not None:
                return Manifest.from_json(raw)
        obj = self.objects.get(self.manifest_name(point_id))
        if obj is None:
            return None
        raw = obj["Body"].read()
        self.cache.put_manifest(point_id, obj["ETag"], raw)
        return Manifest.from_json(raw)

    def load_manifest(self, point_id: str) -> Manifest:
        head = self.objects.head(self.manifest_name(point_id))
        m = self._manifest(point_id, head["ETag"]) if head is not None else None
        if m is None:
            raise EngineError(f"recovery point {point_id} does not exist in the store")
        return m

    def list_manifests(self, item: str | None = None) -> list[Manifest]:
        out = []
        listed = set()
        for entry in self.objects.list_names("manifests/"):
            leaf = entry["Name"].rsplit("/", 1)[-1]
            if not leaf.endswith(".json"):
                continue
            listed.add((leaf[: -len(".json")], entry["ETag"]))
            m = self._manifest(leaf[: -len(".json")], entry["ETag"])
            if m is not None and (item is None or m.item == item):
                out.append(m)
        self.cache.forget_other_manifests(listed)
        out.sort(key=lambda m: (m.time, m.point_id))
        return out

    def delete_manifest(self, point_id: str) -> bool:
        name = self.manifest_name(point_id)
        if self.objects.head(name) is None:
            return False
        self.objects.delete(name)
        return True

    def stats(self) -> StoreStats:
        count = size = 0
        for _, n, _ in self.iter_chunks():
            count += 1
            size += n
        return StoreStats(count, size, sum(m.logical_bytes for m in self.list_manifests()))

    # --- holds (holds.py) -----------------------------------------------------------
    def put_hold(self, item: str, raw: bytes) -> None:
        self.objects.put(f"holds/{check_id(item, 'item')}.json", raw)

    def read_hold(self, item: str) -> bytes | None:
        obj = self.objects.get(f"holds/{check_id(item, 'item')}.json")
        return obj["Body"].read() if obj is not None else None

    def delete_hold(self, item: str) -> bool:
        name = f"holds/{check_id(item, 'item')}.json"
        if self.objects.head(name) is None:
            return False
        self.objects.delete(name)
        return True

    def held_items(self) -> list[str]:
        leaves = (e["Name"].rsplit("/", 1)[-1] for e in self.objects.list_names("holds/"))
        return [leaf[: -len(".json")] for leaf in leaves if leaf.endswith(".json")]
