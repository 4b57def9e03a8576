"""A vault store in an S3-compatible bucket: the same chunk and manifest format as the folder store.

    PREFIX/vault-store.json           marker (as store.py), written last by init
    PREFIX/chunks/<hh>/<hash>         one object per chunk: 1 header byte + payload (store.pack / store.unpack)
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
The local cache (s3cache.py) keeps manifests, recently read chunks and the known-chunk index.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import CorruptChunk, EngineError, MissingChunk, NotAStore
from .leases import DEFAULT_TIMEOUT_S
from .manifest import Manifest, check_hash, check_id
from .pending import ChunkReservations
from .s3cache import LocalCache, default_cache_dir
from .s3client import S3Location, call, is_not_found, is_precondition_failed, list_keys, make_client, parse_location
from .s3leases import LOCK_NAME, LeaseBook
from .store import BAD_SUFFIX, CHUNK_SIZE, MARKER, STORE_FORMAT, STORE_VERSION, PutResult, StoreStats, pack, unpack

GENERATION = "gc-generation"
_KNOWN = {MARKER, "chunks", "manifests", "leases", "holds", LOCK_NAME, GENERATION}
GC_WAIT_S = 3600.0  # how long a backup waits for a running GC before it fails


class S3Store:
    def __init__(self, where: S3Location, client: Any, chunk_size: int, cache: LocalCache) -> None:
        self.where = where
        self.client = client
        self.chunk_size = chunk_size
        self.cache = cache
        self.gc_wait_s = GC_WAIT_S
        self._lock = threading.Lock()
        self._leased = 0  # leases held through this object: the known-chunk index may be trusted
        self._known: set[str] = set()
        self._generation = ""

    def __repr__(self) -> str:
        return f"S3Store({self.where})"

    # --- creation -----------------------------------------------------------
    @classmethod
    def _connect(cls, location: str, options: Mapping[str, Any] | None) -> tuple[S3Location, Any, LocalCache]:
        where = parse_location(location, options)
        client = make_client(where, options)
        cache_dir = (options or {}).get("cache_dir")
        root = (
            Path(cache_dir) if cache_dir else default_cache_dir(f"{where.endpoint_url}|{where.bucket}|{where.prefix}")
        )
        return where, client, LocalCache(root)

    @classmethod
    def init(cls, location: str, options: Mapping[str, Any] | None = None) -> S3Store:
        """Create a store under the bucket prefix (idempotent). The bucket must exist; a foreign prefix is refused."""
        where, client, cache = cls._connect(location, options)
        try:
            call(where, client.head_bucket, Bucket=where.bucket)
        except Exception as exc:
            if is_not_found(exc):  # HeadBucket has no body, so no NoSuchBucket code
                raise NotAStore(f"the bucket of {where} does not exist") from None
            raise
        try:
            return cls._open(where, client, cache)
        except NotAStore:
            pass
        page = call(where, client.list_objects_v2, Bucket=where.bucket, Prefix=where.prefix, Delimiter="/", MaxKeys=50)
        names = [o["Key"][len(where.prefix) :] for o in page.get("Contents", [])]
        names += [p["Prefix"][len(where.prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        foreign = [n for n in names if n not in _KNOWN]
        if foreign:
            raise NotAStore(f"{where} is not empty and is not a vault store (found {sorted(foreign)[:3]})")
        # A generation of its own from the start: a local index left by an earlier store at this location (deleted
        # and made again, or a reused cache folder) must never vouch for chunks this one does not hold.
        call(
            where, client.put_object, Bucket=where.bucket, Key=where.key(GENERATION), Body=secrets.token_hex(8).encode()
        )
        marker = {"format": STORE_FORMAT, "version": STORE_VERSION, "chunk_size": CHUNK_SIZE}
        call(where, client.put_object, Bucket=where.bucket, Key=where.key(MARKER), Body=json.dumps(marker).encode())
        return cls(where, client, CHUNK_SIZE, cache)

    @classmethod
    def open(cls, location: str, options: Mapping[str, Any] | None = None) -> S3Store:
        return cls._open(*cls._connect(location, options))

    @classmethod
    def _open(cls, where: S3Location, client: Any, cache: LocalCache) -> S3Store:
        try:
            raw = call(where, client.get_object, Bucket=where.bucket, Key=where.key(MARKER))["Body"].read()
        except Exception as exc:
            if is_not_found(exc):
                raise NotAStore(f"{where} is not a vault store (no {MARKER})") from None
            raise
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise NotAStore(f"{where} is not a vault store ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != STORE_FORMAT:
            raise NotAStore(f"{where} is not a vault store (foreign marker)")
        if doc.get("version") != STORE_VERSION:
            raise NotAStore(f"{where}: unsupported store version {doc.get('version')!r}")
        return cls(where, client, int(doc.get("chunk_size", CHUNK_SIZE)), cache)

    # --- small object helpers ---------------------------------------------------
    def _get(self, name: str) -> dict | None:
        try:
            return call(self.where, self.client.get_object, Bucket=self.where.bucket, Key=self.where.key(name))
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def _head(self, name: str) -> dict | None:
        try:
            return call(self.where, self.client.head_object, Bucket=self.where.bucket, Key=self.where.key(name))
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def _put(self, name: str, body: bytes | memoryview, **extra: Any) -> dict:
        return call(
            self.where, self.client.put_object, Bucket=self.where.bucket, Key=self.where.key(name), Body=body, **extra
        )

    def _delete(self, name: str, **extra: Any) -> None:
        call(self.where, self.client.delete_object, Bucket=self.where.bucket, Key=self.where.key(name), **extra)

    def delete_objects(self, names: list[str]) -> None:
        for i in range(0, len(names), 1000):
            batch = [{"Key": self.where.key(n)} for n in names[i : i + 1000]]
            call(
                self.where, self.client.delete_objects, Bucket=self.where.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )  # fmt: skip

    def list_names(self, sub: str) -> Iterator[dict]:
        """Objects under PREFIX/sub, with "Name" (the key below PREFIX) added."""
        for entry in list_keys(self.where, self.client, self.where.key(sub)):
            entry["Name"] = entry["Key"][len(self.where.prefix) :]
            yield entry

    # --- leases, generations and the known-chunk index --------------------------
    def lease_book(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> LeaseBook:
        return LeaseBook(self.where, self.client, timeout_s)

    @contextmanager
    def lease(self, purpose: str) -> Iterator[object]:
        """Hold a backup lease: no GC runs until it is released, so existing chunks stay (see s3leases.py)."""
        held = self.lease_book().hold_lease(purpose, self.gc_wait_s)
        try:
            self._load_known()
            with self._lock:
                self._leased += 1
            try:
                yield held
            finally:
                with self._lock:
                    self._leased -= 1
                    known, generation = set(self._known), self._generation
                self.cache.save_known(generation, known)
        finally:
            held.release()

    def generation(self) -> str:
        obj = self._get(GENERATION)
        return obj["Body"].read().decode() if obj is not None else "initial"

    def new_generation(self) -> None:
        """Called before chunks are deleted: every local index built before is dropped."""
        self._put(GENERATION, secrets.token_hex(8).encode())
        with self._lock:
            self._known.clear()
            self._generation = ""

    def _load_known(self) -> None:
        generation = self.generation()
        with self._lock:
            if generation == self._generation:
                return
        known = self.cache.known(generation)
        if known is None:
            known = {h for h, _, _ in self.iter_chunks()}
            self.cache.save_known(generation, known)
        with self._lock:
            self._known, self._generation = known, generation

    def _is_known(self, chunk_hash: str) -> bool:
        with self._lock:
            return self._leased > 0 and chunk_hash in self._known

    def _add_known(self, chunk_hash: str) -> None:
        with self._lock:
            if self._leased > 0:
                self._known.add(chunk_hash)

    # --- chunks -------------------------------------------------------------------
    @staticmethod
    def chunk_name(chunk_hash: str) -> str:
        return f"chunks/{chunk_hash[:2]}/{chunk_hash}"

    def has_chunk(self, chunk_hash: str) -> bool:
        """Whether the chunk object is there (a HEAD, nothing read)."""
        return self._head(self.chunk_name(check_hash(chunk_hash))) is not None

    def touch_chunk(self, chunk_hash: str) -> bool:
        """True if the chunk exists. Under a lease that is all GC needs (module docstring)."""
        if self._is_known(chunk_hash):
            return True
        if self._head(self.chunk_name(chunk_hash)) is None:
            return False
        self._add_known(chunk_hash)
        return True

    def put_chunk(
        self, chunk_hash: str, data: bytes | memoryview, pending: ChunkReservations | None = None
    ) -> PutResult:
        """PUT the chunk unless it is known to exist. Under a lease the index, listed when it was taken, is
        asked instead of a HEAD per chunk: a chunk another backup PUT since is PUT again (same bytes)."""
        if self._is_known(chunk_hash) or (not self._leased and self.touch_chunk(chunk_hash)):
            return PutResult(False, 0, 0)
        if pending is not None and not pending.reserve(chunk_hash):
            return PutResult(False, 0, 0)
        header, payload = pack(data)
        try:
            self._put(self.chunk_name(chunk_hash), header + bytes(payload))
        except BaseException:
            if pending is not None:
                pending.release(chunk_hash)
            raise
        self._add_known(chunk_hash)
        return PutResult(True, len(payload), len(payload) + 1)

    def sync_chunk_dirs(self, prefixes: set[str] | None = None) -> None:
        """Nothing to do: a PUT is durable when it returns."""

    def new_pending(self) -> ChunkReservations:
        return ChunkReservations()

    def read_chunk(self, chunk_hash: str, expected_length: int | None = None, *, use_cache: bool = True) -> bytes:
        """The uncompressed chunk; MissingChunk / CorruptChunk. use_cache=False checks the bucket's copy."""
        check_hash(chunk_hash)
        data = self._read_cached(chunk_hash) if use_cache else None
        if data is None:
            obj = self._get(self.chunk_name(chunk_hash))
            if obj is None:
                if self.quarantined(chunk_hash):
                    raise CorruptChunk(chunk_hash, detail="quarantined") from None
                raise MissingChunk(chunk_hash)
            raw = obj["Body"].read()
            try:
                data = unpack(chunk_hash, raw, self.chunk_size)
            except CorruptChunk:
                self.quarantine_chunk(chunk_hash, etag=obj["ETag"])
                raise
            if use_cache:
                self.cache.offer_chunk(chunk_hash, raw)
        if expected_length is not None and len(data) != expected_length:
            raise CorruptChunk(chunk_hash, detail=f"length {len(data)} != {expected_length}")
        return data

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
        head = self._head(name)
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
            self._delete(name, IfMatch=head["ETag"])
        except Exception as exc:
            if not (is_precondition_failed(exc) or is_not_found(exc)):
                raise
        return self.where.key(bad)

    def quarantined(self, chunk_hash: str) -> list[str]:
        """Keys of the `.bad` copies kept for a chunk, oldest first."""
        found = []
        for entry in self.list_names(f"{self.chunk_name(chunk_hash)}."):
            n = entry["Name"].rsplit("/", 1)[-1].split(".")
            if len(n) == 3 and n[2] == BAD_SUFFIX[1:] and n[1].isdigit():
                found.append((int(n[1]), entry["Key"]))
        return [k for _, k in sorted(found)]

    def iter_chunks(self) -> Iterator[tuple[str, int, float]]:
        """(hash, size, LastModified) of every chunk object, quarantined ones excluded."""
        for entry in self.list_names("chunks/"):
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
            heads = {h: self._head(self.chunk_name(h)) for h in hashes - named}
            present = {h: int(head["ContentLength"]) for h, head in heads.items() if head is not None}
            if present:
                self.new_generation()
                self.delete_objects([self.chunk_name(h) for h in present])
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
        return self._head(self.manifest_name(point_id)) is not None

    def commit_manifest(self, manifest: Manifest) -> None:
        """Publish a manifest. Every chunk it names must have been PUT (or found) before."""
        self._put(self.manifest_name(manifest.point_id), manifest.to_json())

    def _manifest(self, point_id: str, etag: str | None) -> Manifest | None:
        if etag is not None:
            raw = self.cache.manifest(point_id, etag)
            if raw is not None:
                return Manifest.from_json(raw)
        obj = self._get(self.manifest_name(point_id))
        if obj is None:
            return None
        raw = obj["Body"].read()
        self.cache.put_manifest(point_id, obj["ETag"], raw)
        return Manifest.from_json(raw)

    def load_manifest(self, point_id: str) -> Manifest:
        head = self._head(self.manifest_name(point_id))
        m = self._manifest(point_id, head["ETag"]) if head is not None else None
        if m is None:
            raise EngineError(f"recovery point {point_id} does not exist in the store")
        return m

    def list_manifests(self, item: str | None = None) -> list[Manifest]:
        out = []
        listed = set()
        for entry in self.list_names("manifests/"):
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
        if self._head(name) is None:
            return False
        self._delete(name)
        return True

    def stats(self) -> StoreStats:
        count = size = 0
        for _, n, _ in self.iter_chunks():
            count += 1
            size += n
        return StoreStats(count, size, sum(m.logical_bytes for m in self.list_manifests()))

    # --- holds (holds.py) -----------------------------------------------------------
    def put_hold(self, item: str, raw: bytes) -> None:
        self._put(f"holds/{check_id(item, 'item')}.json", raw)

    def read_hold(self, item: str) -> bytes | None:
        obj = self._get(f"holds/{check_id(item, 'item')}.json")
        return obj["Body"].read() if obj is not None else None

    def delete_hold(self, item: str) -> bool:
        name = f"holds/{check_id(item, 'item')}.json"
        if self._head(name) is None:
            return False
        self._delete(name)
        return True

    def held_items(self) -> list[str]:
        leaves = (e["Name"].rsplit("/", 1)[-1] for e in self.list_names("holds/"))
        return [leaf[: -len(".json")] for leaf in leaves if leaf.endswith(".json")]
