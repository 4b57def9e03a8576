"""Real processes for the fault tests: a private Redis or RabbitMQ, a portal web server, workers on a private queue."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import requests
from django.conf import settings

from backup.jobs import tasks as job_tasks
from backup.jobs.models import Job, JobStatus
from tests.vms.test_backup_worker import _kill_tree  # noqa: F401 - shared with the fault tests
from tests.worker import wait_for, worker_env

REDIS_SERVER = "/usr/bin/redis-server"
FINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """Our own redis-server on a free loopback port (never the machine's Redis on 6379), without persistence:
    a restart loses whatever was queued, which is the worst case for "nothing is lost"."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="trust-redis-")
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "Redis":
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, timeout=10, message="redis-server to start")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class RabbitMQ:
    """Our own rabbitmq-server node on free loopback ports, with its own node name, data and logs (never the
    machine's node on 5672). Its data survives stop() and start(), as a production node's disk does: durable
    queues and persistent messages come back with it."""

    def __init__(self):
        self.port, self.dist_port = free_port(), free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="trust-rabbitmq-"))
        self.node = f"trust{self.port}@localhost"
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
                                                "loopback_users = none\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        self.process = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> "RabbitMQ":
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir), "LANG": "C.UTF-8",
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"), "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"), "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.log = open(self.dir / "server.log", "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([RABBITMQ_SERVER], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_for(self._answers, timeout=60, message="rabbitmq-server to start")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"rabbitmq-server exited: {(self.dir / 'server.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"AMQP\x00\x00\x09\x01")
                return s.recv(8).startswith(b"\x01")  # connection.start: the broker is accepting clients
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM to the node (a clean shutdown, as systemd stops it), SIGKILL if it lingers."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.log.close()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def own_queue(monkeypatch, queue: str) -> None:
    """Jobs this test process starts go to `queue` (the session worker consumes the default one)."""
    real = job_tasks.run_job
    monkeypatch.setattr(job_tasks, "run_job",
                        types.SimpleNamespace(delay=lambda job_id: real.apply_async((job_id,), queue=queue)))


def own_broker(monkeypatch, url: str, queue: str) -> None:
    """Jobs this test process starts go to `queue` on the broker at `url`, with the portal's publish retry policy:
    with that broker down, starting a job records it unclaimed, as a page does."""
    from kombu import Connection

    real = job_tasks.run_job

    def delay(job_id):
        with Connection(url, connect_timeout=2) as connection:
            return real.apply_async((job_id,), queue=queue, connection=connection,
                                    retry_policy=settings.CELERY_TASK_PUBLISH_RETRY_POLICY)

    monkeypatch.setattr(job_tasks, "run_job", types.SimpleNamespace(delay=delay))


def final(job: Job, timeout: float = 90) -> Job:
    def done():
        job.refresh_from_db()
        return job.status in FINAL

    wait_for(done, timeout=timeout, message=f"job {job.pk} ({job.operation}) to end")
    return job


class Portal:
    """`manage.py runserver` in its own process, on the test database, with the given environment."""

    def __init__(self, extra_env: dict, log_dir: Path):
        self.port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(log_dir / f"portal-{self.port}.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload", "--nothreading"],
            cwd=settings.BASE_DIR, env=worker_env() | extra_env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(self._up, timeout=30, message="the portal to start")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the portal exited: {Path(self.log.name).read_text()}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def session(self, username: str, password: str) -> requests.Session:
        session = requests.Session()
        session.get(f"{self.url}/accounts/login/", timeout=10)
        response = session.post(f"{self.url}/accounts/login/", timeout=10,
                                data={"username": username, "password": password,
                                      "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                                headers={"Referer": f"{self.url}/accounts/login/"}, allow_redirects=False)
        assert response.status_code == 302, response.text[:500]
        return session

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def manage(*args: str, env: dict) -> str:
    """Run a management command in a separate process (as beat would run a task) and return its output."""
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=worker_env() | env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def is_root() -> bool:
    return os.geteuid() == 0


def elapsed(since: float) -> float:
    return time.monotonic() - since
