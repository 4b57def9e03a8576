"""gunicorn for the web process: `gunicorn -c gunicorn.conf.py portal.wsgi` (Procfile and systemd do this).

Settings come from the environment, like the portal's. Requests are short (every long operation is a
job on a worker), so plain sync workers suffice; WhiteNoise serves the static files from them.
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("PORTAL_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 9)))
threads = int(os.environ.get("WEB_THREADS", 1))
timeout = int(os.environ.get("WEB_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
# Behind a reverse proxy (nginx, a load balancer) terminating TLS: trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Prometheus: every gunicorn worker keeps its own request-latency samples; in multiprocess mode they go
# to files in one folder, and /metrics (served by any worker) adds them up. Emptied at each start.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"portal-metrics-{os.getpid()}")
)
# Imported here, not in child_exit: that hook runs in the SIGCHLD handler, which fires again while a first
# import is half done when several workers exit at once (at shutdown), and then finds a half-made module.
from prometheus_client import multiprocess  # noqa: E402


def on_starting(server) -> None:
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)
