"""The objects of one store: keys below its bucket prefix, read, written, deleted and listed by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .s3client import S3Location, call, is_not_found, list_keys
from .s3get import ChunkGetter


class PrefixObjects:
    def __init__(self, where: S3Location, client: Any, getter: ChunkGetter | None = None) -> None:
        self.where = where
        self.client = client
        self.getter = getter  # the lean GET where the endpoint allows it (s3get.py)

    def get(self, name: str) -> dict | None:
        return self._or_none(self.client.get_object, name)

    def read(self, name: str) -> tuple[bytes, str] | None:
        """(body, ETag) of an object read whole, None if there is none."""
        if self.getter is not None:
            return self.getter.get(self.where.key(name))
        obj = self.get(name)
        return None if obj is None else (obj["Body"].read(), obj["ETag"])

    def head(self, name: str) -> dict | None:
        return self._or_none(self.client.head_object, name)

    def _or_none(self, operation: Any, name: str) -> dict | None:
        try:
            return call(self.where, operation, Bucket=self.where.bucket, Key=self.where.key(name))
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def put(self, name: str, body: bytes | memoryview, **extra: Any) -> dict:
        return call(
            self.where, self.client.put_object, Bucket=self.where.bucket, Key=self.where.key(name), Body=body, **extra
        )

    def delete(self, name: str, **extra: Any) -> None:
        call(self.where, self.client.delete_object, Bucket=self.where.bucket, Key=self.where.key(name), **extra)

    def delete_many(self, names: list[str]) -> None:
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
