"""A real Celery worker process for end-to-end tests: never eager.

The worker gets the test database's name through DATABASE_URL, and the broker settings through
the environment the tests run in, so it consumes exactly the tasks the tests enqueue.
"""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

# Its sitecustomize slows a worker down where a test asks it to (see there); inert otherwise.
SLOW = Path(__file__).resolve().parent / "faults" / "slow"


def worker_env() -> dict:
    db = connection.settings_dict
    env = os.environ.copy()
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        user = db.get("USER") or "postgres"
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{db['NAME']}"
    env["JOB_HEARTBEAT_TIMEOUT_S"] = str(settings.JOB_HEARTBEAT_TIMEOUT_S)
    return env


# Queues the workers of this session declared on the run's broker; see delete_test_queues.
_declared_queues: set[str] = set()


def remember_queue(queue: str) -> None:
    """A worker of this session consumes `queue` on the run's broker: delete it when the session ends."""
    _declared_queues.add(queue)


def start_worker(name: str, log_dir: Path, extra_env: dict | None = None, concurrency: int = 2):
    if "CELERY_BROKER_URL" not in (extra_env or {}):
        remember_queue((extra_env or {}).get("CELERY_TASK_DEFAULT_QUEUE", settings.CELERY_TASK_DEFAULT_QUEUE))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"worker-{name}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed when the worker stops
    cmd = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
           "--concurrency", str(concurrency), "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
           "--without-mingle"]
    env = worker_env() | (extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join([str(SLOW), env.get("PYTHONPATH") or str(settings.BASE_DIR)])
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                               cwd=settings.BASE_DIR)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{log_path.read_text()}")
        if " ready." in log_path.read_text():
            break
        time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(f"worker did not start:\n{log_path.read_text()}")
    process.log_path = log_path
    process.log_file = log
    return process


def stop_worker(process) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.log_file.close()


@pytest.fixture(scope="session", autouse=True)
def delete_test_queues():
    """RabbitMQ keeps a durable queue after its consumers are gone, and every run has its own queue names: delete
    this session's at its end so that runs against a shared broker leave nothing behind. (Redis keys of an empty
    queue vanish by themselves, and the filesystem broker lives in the tests' var folder.)"""
    yield
    if not settings.CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
        return
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
            for queue in sorted(_declared_queues | {settings.CELERY_TASK_DEFAULT_QUEUE}):
                connection.default_channel.queue_delete(queue)
                connection.default_channel.exchange_delete(queue)
    except Exception as error:  # never fail a finished run over its cleanup
        print(f"could not delete the test queues: {error!r}")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """One real worker for the whole session, consuming from the test broker queue."""
    busy = Path(settings.VAR_DIR) / "worker-busy"
    shutil.rmtree(busy, ignore_errors=True)
    busy.mkdir(parents=True)
    process = start_worker("session", Path(settings.VAR_DIR) / "logs", {"TEST_WORKER_BUSY_DIR": str(busy)})
    process.busy_dir = busy
    yield process
    stop_worker(process)


@pytest.fixture(autouse=True)
def session_worker_done(request):
    """A test with the session's worker ends only once that worker is idle. A job's final status commits
    before its worker is done with it (its clean-up and the job_finished receivers still write), and the
    flush that ends a transactional test deadlocks with such writes, or misses rows written after it."""
    if "celery_worker" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so its flush comes after this teardown
    worker = request.getfixturevalue("celery_worker")
    yield
    worker_is_done(worker)


def worker_is_done(worker, timeout: float = 30) -> None:
    """Wait until `worker` runs no task and has queued none it has not run (see tests/faults/slow); a task
    still running after `timeout` is left to finish on its own, with a word in the test's output."""
    deadline = time.monotonic() + timeout
    while any(worker.busy_dir.iterdir()):
        if time.monotonic() > deadline or worker.poll() is not None:
            print(f"the session worker is still busy with {sorted(p.name for p in worker.busy_dir.iterdir())}")
            return
        time.sleep(0.05)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
