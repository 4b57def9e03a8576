import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

from .seed_demo import DEMO_PASSWORD, DEMO_USER

# A worker or beat that dies is started again after a pause that doubles with each quick death, so a process
# that cannot start (a bad setting, a broker that refuses it) is retried without spinning the CPU.
RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0
# A process that ran this long before dying was healthy: its next restart is quick again.
HEALTHY_AFTER_S = 60.0


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervised:
    """One child process, restarted with backoff when `restart` is set and it dies."""

    def __init__(self, name: str, command: list[str], restart: bool):
        self.name, self.command, self.restart = name, command, restart
        self.quick_deaths = 0
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command)
        self.started_at = time.monotonic()
        self.restart_at = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Command(BaseCommand):
    help = ("Run the web server, one Celery worker and the Celery beat scheduler together; a worker or beat that "
            "dies is restarted; Ctrl-C stops all.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("PORTAL_ADDR", "127.0.0.1:8000"))

    def handle(self, *args, addr: str, **options):
        python = sys.executable
        children = [
            # The web server is the one thing its user watches; when it stops (its port is taken, say), all stop.
            Supervised("web", [python, "manage.py", "runserver", addr, "--noreload"], restart=False),
            Supervised("worker", [python, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
                                  "--concurrency", "2"], restart=True),
            Supervised("beat", [python, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO"], restart=True),
        ]
        for child in children:
            child.start()
        self.stdout.write(self.style.SUCCESS(f"\nPortal: http://{addr}/   sign in as {DEMO_USER} / {DEMO_PASSWORD}\n"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for child in children:
                    stopping = self._watch(child) or stopping
                time.sleep(0.5)
        finally:
            running = [c.process for c in children if c.running()]
            for process in running:
                process.terminate()
            for process in running:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _watch(self, child: Supervised) -> bool:
        """Restart `child` when it died and is due; True when its death must stop the portal."""
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                self.stderr.write(f"restarting the {child.name}")
                child.start()
            return False
        if child.running():
            return False
        why = describe_exit(child.process.returncode)
        if not child.restart:
            self.stderr.write(f"the {child.name} {why}; stopping the others.")
            return True
        lived = now - child.started_at
        child.quick_deaths = 0 if lived >= HEALTHY_AFTER_S else child.quick_deaths + 1
        delay = min(RESTART_DELAY_S * 2 ** max(child.quick_deaths - 1, 0), MAX_RESTART_DELAY_S)
        child.restart_at = now + delay
        self.stderr.write(f"the {child.name} {why} after {lived:.0f} s; restarting it in {delay:.0f} s.")
        return False
