"""Talking to an S3-compatible endpoint: location parsing, the boto3 client, and error translation.

boto3 is imported here only, lazily, so a file-system store never needs it. Messages name the endpoint and
the bucket, never a credential.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import NotAStore, StoreUnavailable

SCHEME = "s3://"
OPTION_KEYS = {"endpoint_url", "region", "access_key_id", "secret_access_key", "path_style", "cache_dir"}
# Enough pooled connections for the backup's and the restore's worker threads (backup.IO_THREADS_PER_WORKER).
MAX_CONNECTIONS = 32

T = TypeVar("T")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or "some/prefix/" (always ends with "/")
    endpoint_url: str | None

    def key(self, name: str) -> str:
        return self.prefix + name

    def __str__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"{SCHEME}{self.bucket}/{self.prefix}{where}"


def is_s3_location(location: object) -> bool:
    return isinstance(location, str) and location.startswith(SCHEME)


def parse_location(location: str, options: Mapping[str, Any] | None) -> S3Location:
    rest = location[len(SCHEME) :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise NotAStore(f"{location} names no bucket (expected s3://BUCKET/PREFIX)")
    unknown = set(options or {}) - OPTION_KEYS
    if unknown:
        raise ValueError(f"unknown object storage options: {sorted(unknown)}")
    prefix = prefix.strip("/")
    endpoint = (options or {}).get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL") or None
    return S3Location(bucket, f"{prefix}/" if prefix else "", endpoint)


def make_session(options: Mapping[str, Any] | None) -> Any:
    import boto3

    opts = dict(options or {})
    return boto3.session.Session(
        aws_access_key_id=opts.get("access_key_id") or None,
        aws_secret_access_key=opts.get("secret_access_key") or None,
        region_name=opts.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )


def make_client(where: S3Location, session: Any, options: Mapping[str, Any] | None) -> Any:
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path" if (options or {}).get("path_style") else "auto"},
        max_pool_connections=MAX_CONNECTIONS,
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        # Every chunk is re-hashed (BLAKE3) on read; a CRC per request on top only costs CPU on both ends.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=where.endpoint_url, config=config)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in {"404", "NoSuchKey", "NotFound"}


def is_precondition_failed(exc: BaseException) -> bool:
    return error_code(exc) in {"412", "PreconditionFailed", "ConditionalRequestConflict"}


def call(where: S3Location, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one client call; turn transport, credential and bucket errors into NotAStore / StoreUnavailable.

    Not-found and precondition errors of objects are re-raised as they are, for the caller to decide.
    """
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        return fn(**kwargs)
    except NoCredentialsError:
        raise StoreUnavailable(f"no credentials for the object storage {where}") from None
    except EndpointConnectionError:
        raise StoreUnavailable(f"the object storage {where} cannot be reached") from None
    except ClientError as exc:
        code = error_code(exc)
        if code == "NoSuchBucket":
            raise NotAStore(f"the bucket of {where} does not exist") from None
        if is_not_found(exc) or is_precondition_failed(exc):
            raise
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
            raise StoreUnavailable(f"the object storage {where} refused the credentials ({code})") from None
        raise StoreUnavailable(f"the object storage {where} failed ({code or 'error'})") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"the object storage {where} failed ({type(exc).__name__})") from None


def list_keys(where: S3Location, client: Any, prefix: str) -> Iterator[dict]:
    """Every object under `prefix` (a full key prefix): dicts with Key, Size, LastModified, ETag."""
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": where.bucket, "Prefix": prefix, "MaxKeys": 1000}
        if token:
            kwargs["ContinuationToken"] = token
        page = call(where, client.list_objects_v2, **kwargs)
        yield from page.get("Contents", [])
        if not page.get("IsTruncated"):
            return
        token = page["NextContinuationToken"]
