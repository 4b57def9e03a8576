"""`make run` (manage.py runportal): a worker or beat that dies is restarted, with the reason logged, and the
portal keeps serving; Ctrl-C (SIGTERM) still stops everything."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings

from backup.jobs.models import JobStatus
from backup.vms.services import backup as backups
from tests.factories import make_protected_item
from tests.faults.helpers import _kill_tree, final, free_port, own_queue
from tests.worker import remember_queue, wait_for, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _children(pid: int) -> dict[str, int]:
    """The supervisor's direct children by role: web, worker, beat."""
    found = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            try:
                argv = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            for role, word in (("web", b"runserver"), ("worker", b"worker"), ("beat", b"beat")):
                if word in argv:
                    found[role] = int(kid)
    return found


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_killed_worker_or_beat_is_restarted_and_the_portal_keeps_serving(alice, alpha, monkeypatch):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-runportal"
    own_queue(monkeypatch, queue)
    remember_queue(queue)
    port = free_port()
    log_path = Path(settings.VAR_DIR) / "logs" / "runportal.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = worker_env() | {"CELERY_TASK_DEFAULT_QUEUE": queue}
    with open(log_path, "w") as log:
        portal = subprocess.Popen([sys.executable, "manage.py", "runportal", "--addr", f"127.0.0.1:{port}"],
                                  cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url), timeout=60, message="the portal to answer")
        first = wait_for(lambda: (c := _children(portal.pid)).keys() == {"web", "worker", "beat"} and c,
                         timeout=30, message="web, worker and beat")

        for role in ("worker", "beat"):
            _kill_tree(first[role])
            wait_for(lambda role=role: _children(portal.pid).get(role, first[role]) != first[role], timeout=30,
                     message=f"the {role} to be restarted")
            assert portal.poll() is None and _healthy(url)
            assert f"the {role} killed by SIGKILL" in log_path.read_text()
        assert _children(portal.pid)["web"] == first["web"]

        # The restarted worker runs jobs.
        job = final(backups.back_up_now(make_protected_item(alpha), alice), timeout=120)
        assert job.status == JobStatus.COMPLETED, job.error_message
    finally:
        last = _children(portal.pid)
        if portal.poll() is None:
            os.kill(portal.pid, signal.SIGTERM)
        try:
            portal.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(portal.pid, signal.SIGKILL)
            portal.wait()
    assert portal.returncode == 0 and set(last) == {"web", "worker", "beat"}
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in last.values()), timeout=10,
             message="web, worker and beat to stop")


def test_the_url_and_sign_in_come_last_once_the_server_answers_with_little_else(settings):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-runportal-quiet"
    remember_queue(queue)
    port = free_port()
    log_path = Path(settings.VAR_DIR) / "logs" / "runportal-quiet.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = worker_env() | {"CELERY_TASK_DEFAULT_QUEUE": queue, "PORTAL_ADDR": f"127.0.0.1:{port}"}
    with open(log_path, "w") as log:
        portal = subprocess.Popen([sys.executable, "manage.py", "runportal"], cwd=settings.BASE_DIR, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: "sign in as demo" in log_path.read_text(), timeout=60, message="the sign-in line")
        assert _healthy(url)  # it was printed after the server answered, so it answers now
        for _ in range(5):  # polls, as the pages make
            assert _healthy(url)
        wait_for(lambda: len(_children(portal.pid)) == 3, timeout=30, message="web, worker and beat")
        lines = [line for line in log_path.read_text().splitlines() if line.strip()]
        assert len(lines) <= 3, lines
        assert lines[-1].startswith(f"Portal: {url}/") and "demo / Backup-Demo-2015" in lines[-1]
    finally:
        os.killpg(portal.pid, signal.SIGTERM)
        try:
            portal.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(portal.pid, signal.SIGKILL)
            portal.wait()
