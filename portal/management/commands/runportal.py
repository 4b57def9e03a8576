import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand

from .seed_demo import DEMO_PASSWORD, DEMO_USER

# A worker or beat that dies is started again after a pause that doubles with each quick death, so a process
# that cannot start (a bad setting, a broker that refuses it) is retried without spinning the CPU.
RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0
# A process that ran this long before dying was healthy: its next restart is quick again.
HEALTHY_AFTER_S = 60.0
# Without --verbose the console keeps what a person needs: warnings, errors and restarts, not the banners, every
# poll's access line (Django logs answers below 400 at INFO) or each task the worker ran.
QUIET_LOG_LEVEL = "WARNING"
# Celery warns on every start when it runs as root (a development container): said once is enough.
ROOT_WARNING = "ignore:You're running the worker with superuser privileges"


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervised:
    """One child process, restarted with backoff when `restart` is set and it dies."""

    def __init__(self, name: str, command: list[str], restart: bool, env: dict | None = None, quiet: bool = False):
        self.name, self.command, self.restart = name, command, restart
        self.env, self.quiet = env, quiet
        self.quick_deaths = 0
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None

    def start(self) -> None:
        # Banners go to stdout, errors and log lines to stderr: a quiet child keeps only the latter.
        self.process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.DEVNULL if self.quiet else None)
        self.started_at = time.monotonic()
        self.restart_at = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Command(BaseCommand):
    help = (
        "Run the web server, one Celery worker and the Celery beat scheduler together; a worker or beat that "
        "dies is restarted; Ctrl-C stops all."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--addr",
            default=os.environ.get("PORTAL_ADDR", "127.0.0.1:8000"),
            help="HOST:PORT or PORT to serve on (default: PORTAL_ADDR, else 127.0.0.1:8000)",
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="show the banners, every request and every task (default: warnings and errors)",
        )

    def handle(self, *args, addr: str, verbose: bool = False, **options):
        python = sys.executable
        level = "INFO" if verbose else QUIET_LOG_LEVEL
        env = os.environ | ({} if verbose else {"LOG_LEVEL": level, "PYTHONWARNINGS": ROOT_WARNING})
        celery = [python, "-m", "celery", "-A", "portal"] + ([] if verbose else ["--quiet"])
        quiet = not verbose
        children = [
            # The web server is the one thing its user watches; when it stops (its port is taken, say), all stop.
            Supervised(
                "web", [python, "manage.py", "runserver", addr, "--noreload"], restart=False, env=env, quiet=quiet
            ),
            Supervised(
                "worker",
                [*celery, "worker", "--loglevel", level, "--concurrency", "2"],
                restart=True,
                env=env,
                quiet=quiet,
            ),
            Supervised("beat", [*celery, "beat", "--loglevel", level], restart=True, env=env, quiet=quiet),
        ]
        for child in children:
            child.start()
        if quiet:
            self.stdout.write(f"Starting the portal on {addr} (web, worker, scheduler; --verbose shows their logs)...")
        url = f"http://{addr if ':' in addr else f'127.0.0.1:{addr}'}/"
        probe = url.replace("//0.0.0.0:", "//127.0.0.1:")
        announced = False
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
                # Said last, once the server answers, so it is the line left on the screen.
                if not announced and not stopping and answers(probe):
                    announced = True
                    self.stdout.write(
                        self.style.SUCCESS(
                            f"\nPortal: {url}   sign in as {DEMO_USER} / {DEMO_PASSWORD}   (Ctrl-C stops it)\n"
                        )
                    )
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
