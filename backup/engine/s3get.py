"""GETs of whole chunk objects from a path-style endpoint without boto3's request pipeline.

A restore GETs every chunk of a disk. Through boto3 each GET costs ~2.5 ms of Python (parameter validation,
endpoint rules, a dozen event hooks, response parsing) under the GIL, which on a small host caps a restore
below what the server can send. Here a GET is one SigV4 signature (botocore's own signer, with the session's
credentials, refreshed as boto3 would) and one request on a urllib3 pool: ~1 ms. Only for the addressing that
needs no endpoint rules: an explicit endpoint with path-style addresses (local and self-hosted servers); any
other store reads through boto3. Errors mean what they mean there: not found is None, the rest become
NotAStore / StoreUnavailable with the endpoint and bucket named, never a credential.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

from .errors import NotAStore, StoreUnavailable
from .s3client import MAX_CONNECTIONS, S3Location

ATTEMPTS = 3  # as the boto3 client's retries: transport errors, 500, 502, 503, 504 (throttling)
_RETRY_STATUS = {500, 502, 503, 504}
_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


class ChunkGetter:
    def __init__(self, where: S3Location, session: Any, region: str) -> None:
        import urllib3
        from botocore.httpsession import get_cert_path

        assert where.endpoint_url, "path-style GETs need an explicit endpoint"
        self.where = where
        self.base = f"{where.endpoint_url.rstrip('/')}/{quote(where.bucket, safe='')}/"
        self.region = region
        self._session = session
        self._credentials: Any = None
        self.requests = 0  # GETs sent, for request counts beside boto3's
        tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": get_cert_path(True)} if self.base.startswith("https") else {}
        self.pool = urllib3.PoolManager(
            maxsize=MAX_CONNECTIONS,
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=False,
            **tls,
        )

    def _signed_headers(self, url: str) -> dict[str, str]:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self._credentials is None:
            self._credentials = self._session.get_credentials()
            if self._credentials is None:
                raise StoreUnavailable(f"no credentials for the object storage {self.where}")
        request = AWSRequest(method="GET", url=url)
        S3SigV4Auth(self._credentials.get_frozen_credentials(), "s3", self.region).add_auth(request)
        return dict(request.headers.items())

    def get(self, key: str) -> tuple[bytes, str] | None:
        """(body, ETag) of the object at the full key `key`, None if there is none."""
        import urllib3

        url = self.base + quote(key, safe="/~")
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            self.requests += 1
            try:
                response = self.pool.request("GET", url, headers=self._signed_headers(url))
            except urllib3.exceptions.HTTPError:
                if last:
                    raise StoreUnavailable(f"the object storage {self.where} cannot be reached") from None
                time.sleep(0.05 * 2**attempt)
                continue
            status = response.status
            if status == 200:
                return response.data, response.headers.get("ETag", "")
            if status in _RETRY_STATUS and not last:
                time.sleep(0.05 * 2**attempt)
                continue
            self._raise_unless_missing(status, response.data)
            return None
        raise AssertionError("unreachable")

    def _raise_unless_missing(self, status: int, body: bytes) -> None:
        match = _CODE.search(body or b"")
        code = match.group(1).decode("ascii", "replace") if match else str(status)
        if code == "NoSuchBucket":
            raise NotAStore(f"the bucket of {self.where} does not exist")
        if status == 404:
            return
        if code in _REFUSED or status == 403:
            raise StoreUnavailable(f"the object storage {self.where} refused the credentials ({code})")
        raise StoreUnavailable(f"the object storage {self.where} failed ({code})")
