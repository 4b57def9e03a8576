"""The lean chunk GET (s3get.py) against a real HTTP server on loopback: it signs as boto3 does and its
answers mean what boto3's do (missing, no bucket, refused, retried, unreachable)."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backup.engine import NotAStore, StoreUnavailable
from backup.engine.s3client import make_client, make_session, parse_location
from backup.engine.s3get import ChunkGetter

SECRET = "lean-secret"


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.answers: list[tuple[int, bytes]] = []  # taken in order; then 200 with BODY

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


BODY = b"\x00chunk bytes"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers.items())))
        status, body = self.server.answers.pop(0) if self.server.answers else (200, BODY)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"etag-1"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _connect(endpoint: str):
    options = {
        "endpoint_url": endpoint, "access_key_id": "LEANKEY", "secret_access_key": SECRET, "region": "eu-west-1",
        "path_style": True,
    }  # fmt: skip
    where = parse_location("s3://bkt/a prefix~/", options)
    session = make_session(options)
    client = make_client(where, session, options)
    return where, client, ChunkGetter(where, session, client.meta.region_name)


def _error(code: str) -> bytes:
    return f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>no</Message></Error>".encode()


def test_a_lean_get_is_the_request_boto3_sends(receiver, monkeypatch):
    import botocore.auth

    fixed = datetime.datetime(2026, 12, 1, 12, 0, 0)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: fixed)
    where, client, getter = _connect(receiver.endpoint)
    key = where.key("chunks/ab/abc")
    client.get_object(Bucket="bkt", Key=key)["Body"].read()
    assert getter.get(key) == (BODY, '"etag-1"')
    (boto_path, boto_headers), (lean_path, lean_headers) = receiver.seen
    assert lean_path == boto_path == "/bkt/a%20prefix~/chunks/ab/abc"
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256"):
        assert lean_headers[name] == boto_headers[name]
    assert lean_headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=LEANKEY/20261201/eu-west-1/s3/")
    assert getter.requests == 1


def test_lean_get_answers_mean_what_boto3s_do(receiver):
    where, _, getter = _connect(receiver.endpoint)
    receiver.answers = [(404, _error("NoSuchKey"))]
    assert getter.get("k") is None
    receiver.answers = [(404, _error("NoSuchBucket"))]
    with pytest.raises(NotAStore, match="bucket of s3://bkt/.* does not exist"):
        getter.get("k")
    receiver.answers = [(403, _error("SignatureDoesNotMatch"))]
    with pytest.raises(StoreUnavailable, match=r"refused the credentials \(SignatureDoesNotMatch\)") as refused:
        getter.get("k")
    assert SECRET not in str(refused.value) and "LEANKEY" not in str(refused.value)
    receiver.answers = [(503, _error("SlowDown")), (500, b"")]
    assert getter.get("k") == (BODY, '"etag-1"')  # throttled twice, then served
    receiver.answers = [(500, _error("InternalError"))] * 3
    with pytest.raises(StoreUnavailable, match=r"failed \(InternalError\)"):
        getter.get("k")


def test_an_unreachable_endpoint_is_said_so(receiver):
    endpoint = receiver.endpoint
    receiver.shutdown()
    receiver.server_close()
    _, _, getter = _connect(endpoint)
    with pytest.raises(StoreUnavailable, match="cannot be reached") as unreachable:
        getter.get("k")
    assert SECRET not in str(unreachable.value)
