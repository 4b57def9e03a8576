"""A real S3-compatible server (moto_server) for the tests of every app: one process for the session, a fresh
bucket per test that asks for one (S3Server.new_bucket)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_server_exe() -> str:
    """The moto_server beside this interpreter (requirements.txt's pin), else the first on PATH: another one on
    PATH may be another version. benchmarks/objectstore.py starts the same one."""
    own = Path(sys.executable).with_name("moto_server")
    return str(own) if own.exists() else shutil.which("moto_server") or str(own)


@dataclass
class S3Server:
    endpoint_url: str
    _buckets: itertools.count = field(default_factory=itertools.count)

    def options(self, cache_dir: Path) -> dict:
        return {
            "endpoint_url": self.endpoint_url,
            "access_key_id": "test",
            "secret_access_key": "test-secret",
            "region": "us-east-1",
            "path_style": True,
            "cache_dir": str(cache_dir),
        }

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id="test", aws_secret_access_key="test-secret",
            region_name="us-east-1", config=Config(s3={"addressing_style": "path"}),
        )  # fmt: skip

    def new_bucket(self) -> str:
        name = f"vault-{os.getpid()}-{next(self._buckets)}"
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto_server) on a free loopback port, as a process of its own."""
    exe = moto_server_exe()
    if not os.path.exists(exe):
        if os.environ.get("CI"):
            pytest.fail("moto_server is not installed (pip install -r requirements.txt)")
        pytest.skip("moto_server is not installed (pip install 'moto[server]'): the S3 store tests cannot run")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.1)
    yield S3Server(f"http://127.0.0.1:{port}")
    proc.terminate()
    proc.wait(10)
