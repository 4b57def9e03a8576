"""One settings file, read from the environment (12-factor), with embedded defaults under var/.

With nothing set, the portal runs on SQLite, keeps vault stores and the fabric's disks under var/,
and uses kombu's filesystem transport as the Celery broker, so a newcomer needs no server.
DATABASE_URL, REDIS_URL (or CELERY_BROKER_URL), VAULT_STORAGE_ROOT and FABRIC_ROOT move it onto
real infrastructure unchanged.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from portal.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = envbool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-secret-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "csp",
    "portal",
    "backup.tenancy",
    "backup.notifications",
    "backup.jobs",
    "backup.vaults",
    "backup.guard",
    "backup.vms",
    "backup.billing",
    "backup.drills",
    "backup.alerts",
]

MIDDLEWARE = [
    "portal.metrics.RequestLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.RejectNulMiddleware",
    "portal.middleware.RequireJsonObjectBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.auth.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.LoginRequiredMiddleware",
    "portal.security.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["portal.templatetags.portal_time", "portal.templatetags.portal_urls"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.shell",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}",
        conn_max_age=envint("CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The worker and the web server write to the same file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests start a real worker process, so the test database must be a file it can open too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"

# Security (portal/security.py): failed sign-ins are limited per user name and address by django-axes, pages carry a
# Content-Security-Policy without inline scripts or styles, and production (DEBUG off) gets secure cookies and HSTS.
# portal.auth.ModelBackend is Django's, reading the signed-in user with SQL built once (portal/auth.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "portal.auth.ModelBackend"]
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15))
# Five failures of one user name from one address lock that pair only: colleagues behind the same address
# (an office NAT, localhost) still sign in, and nobody elsewhere can lock a user out by guessing at the name.
# `manage.py axes_reset_ip_username ADDRESS NAME` lifts such a lock (the sign-in page names it).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.security.lockout_response"
AXES_VERBOSE = False
# Behind N reverse proxies (AXES_PROXY_COUNT=N), the client's address comes from X-Forwarded-For; otherwise every
# client would share the proxy's address and lock one another out.
if envint("AXES_PROXY_COUNT", 0):
    AXES_IPWARE_PROXY_COUNT = envint("AXES_PROXY_COUNT", 0)
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Database sessions (Django's table and rows), read with a plain query: portal/sessions.py.
SESSION_ENGINE = "portal.sessions"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Behind a TLS-terminating proxy, gunicorn takes the scheme from X-Forwarded-Proto (forwarded_allow_ips);
    # health checks and scrapers on plain HTTP are not redirected.
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# WhiteNoise serves collected static files (`manage.py collectstatic`) from gunicorn, with hashed names
# and far-future caching; in development (DEBUG) it serves them from the app folders as runserver did.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Where vault stores and the fabric's disk images live. Paths below them are built from ids only.
VAULT_STORAGE_ROOT = Path(os.environ.get("VAULT_STORAGE_ROOT", VAR_DIR / "vaults"))
FABRIC_ROOT = Path(os.environ.get("FABRIC_ROOT", VAR_DIR / "fabric"))

# Celery: RabbitMQ (amqp://) or Redis in production, a broker folder on disk when nothing is configured.
REDIS_URL = os.environ.get("REDIS_URL", "")
# The folder transport has no host; naming one keeps kombu from warning so on every connection.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "filesystem://localhost//"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "broker"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Remote control (inspect ping, used by the admin overview) needs a fanout folder too.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _d in ("queue", "processed", "control"):
        (_broker_dir / _d).mkdir(parents=True, exist_ok=True)
elif CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    # RabbitMQ redelivers a held message as soon as its worker's connection drops; no visibility timeout.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"connect_timeout": 3}
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600),
        "socket_connect_timeout": 3,
    }
# With the broker down, a page that starts a job waits about a second, then records the job for requeueing.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "portal")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker outlives any broker outage: it reconnects forever (Celery's default gives up after 100 attempts and
# exits), and a job it is running goes on, since its progress is written to the database, not the broker.
# Cancelling it on connection loss would throw away a backup because the queue blipped; its message, if
# redelivered meanwhile, is refused by claim() while the job is alive.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# RabbitMQ: heartbeats notice a connection that died without a FIN (a partition) within about a minute.
CELERY_BROKER_HEARTBEAT = envint("CELERY_BROKER_HEARTBEAT", 30)
CELERY_TIMEZONE = "UTC"
# django-celery-beat's DatabaseScheduler, except that a due task the broker refused is sent again once it is back.
CELERY_BEAT_SCHEDULER = "portal.beat:RetryingDatabaseScheduler"
# Unit tests may turn this on; the portal and the end-to-end tests always use a real worker.
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)

# A job whose worker has not reported for this long is declared lost by the reaper.
JOB_HEARTBEAT_TIMEOUT_S = envint("JOB_HEARTBEAT_TIMEOUT_S", 120)
# A job no worker has claimed for this long is sent to the broker again (its first message was never sent
# because the broker was down, or was lost with it); see backup.jobs.tasks.requeue_unclaimed.
JOB_REQUEUE_AFTER_S = envint("JOB_REQUEUE_AFTER_S", 300)
# How long a VM snapshot waits for the guest to quiesce (VSS freeze / fsfreeze) before giving up.
SNAPSHOT_QUIESCE_TIMEOUT_S = float(os.environ.get("SNAPSHOT_QUIESCE_TIMEOUT_S") or 60)
# KVM hosts: how long a guest agent may take to answer (ping, freeze, thaw), and where backups keep their NBD
# sockets and scratch files (QEMU, as the libvirt-qemu user, must be able to write there).
KVM_AGENT_TIMEOUT_S = float(os.environ.get("KVM_AGENT_TIMEOUT_S") or 5)
KVM_WORK_DIR = Path(os.environ.get("KVM_WORK_DIR", "/var/lib/libvirt/qemu/azure-backup"))
# A restore drill with boot check: how long the sandbox domain's guest agent may take to answer.
DRILL_BOOT_TIMEOUT_S = float(os.environ.get("DRILL_BOOT_TIMEOUT_S") or 120)

# JSON lines in production (one object per line, with the job id of a job's lines); text when developing.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = logging_config(LOG_FORMAT if LOG_FORMAT in {"json", "text"} else "json", os.environ.get("LOG_LEVEL", "INFO"))

# /metrics (Prometheus): with METRICS_TOKEN set, scrapers send `Authorization: Bearer <token>`; without it
# the endpoint is open only when DEBUG is on, and answers 404 in production.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# System schedules; django-celery-beat copies them into its tables, where operators can edit them.
CELERY_BEAT_SCHEDULE = {
    "reap-lost-jobs": {"task": "backup.jobs.tasks.reap_lost_jobs", "schedule": 30.0},
    "requeue-unclaimed-jobs": {"task": "backup.jobs.tasks.requeue_unclaimed_jobs", "schedule": 60.0},
    "collect-vault-garbage": {"task": "backup.vms.tasks.collect_garbage_all_vaults", "schedule": 3600.0},
    "purge-soft-deleted": {"task": "backup.vms.tasks.purge_soft_deleted", "schedule": 3600.0},
    "meter-billing-usage": {"task": "backup.billing.tasks.meter_usage", "schedule": 3600.0},
    "guest-writes": {"task": "backup.vms.tasks.inventory.guest_writes", "schedule": 300.0},
    "sync-kvm-hosts": {"task": "backup.vms.tasks.sync_kvm_hosts", "schedule": 300.0},
    # Verification as Proxmox Backup Server schedules it: new points daily, old ones again weekly, each in
    # a quiet hour of its own (both take the vault's verify lock).
    # Geo-redundant vaults: copy what the jobs after each backup missed, apply the secondary's due deletions.
    "replicate-behind-vaults": {"task": "backup.vms.tasks.replicate_behind_vaults", "schedule": 300.0},
    "verify-new-points": {"task": "backup.vms.tasks.verify_new_points", "schedule": crontab(minute=30, hour=3)},
    "reverify-old-points": {
        "task": "backup.vms.tasks.reverify_old_points",
        "schedule": crontab(minute=30, hour=5, day_of_week=6),
    },
}
# Alerts (backup/alerts): e-mail goes through Django's mail system to the SMTP server below.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "backup-portal@localhost")
# The address alerts link to (their job, the vault's ALERTS tab).
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Stale protection: an item is stale once its newest point is older than its policy's interval plus this grace.
ALERTS_STALE_GRACE_S = envint("ALERTS_STALE_GRACE_S", 3600)
# An approved request of a resource guard runs its operation once within this many seconds of the approval.
GUARD_APPROVAL_LIFETIME_S = envint("GUARD_APPROVAL_LIFETIME_S", 3600)
# How often beat evaluates stale protection, damaged points and vault storage, and sends due deliveries.
ALERTS_CHECK_EVERY_S = float(os.environ.get("ALERTS_CHECK_EVERY_S") or 30)
ALERTS_DELIVER_EVERY_S = float(os.environ.get("ALERTS_DELIVER_EVERY_S") or 15)
# A vault whose file system has less free space than this share is "nearly full".
ALERTS_STORAGE_FREE_MIN_PERCENT = float(os.environ.get("ALERTS_STORAGE_FREE_MIN_PERCENT") or 10)
# Seconds between a failed delivery and its next attempt (about eleven hours in all), then it gives up.
ALERTS_RETRY_DELAYS_S = [
    int(s) for s in os.environ.get("ALERTS_RETRY_DELAYS_S", "30,120,600,1800,3600,7200,14400,14400").split(",")
]
# A delivery claimed this long ago by a worker that never wrote its outcome (killed mid-send) is sent again.
ALERTS_SENDING_TIMEOUT_S = envint("ALERTS_SENDING_TIMEOUT_S", 120)
ALERTS_WEBHOOK_TIMEOUT_S = float(os.environ.get("ALERTS_WEBHOOK_TIMEOUT_S") or 10)
CELERY_BEAT_SCHEDULE |= {
    "evaluate-alerts": {"task": "backup.alerts.tasks.evaluate_alerts", "schedule": ALERTS_CHECK_EVERY_S},
    "deliver-due-alerts": {"task": "backup.alerts.tasks.deliver_due_alerts", "schedule": ALERTS_DELIVER_EVERY_S},
    "start-due-drills": {"task": "backup.drills.tasks.start_due_drills", "schedule": 300.0},
}
# The weekly verification re-reads every point whose last verify is older than this many days.
VERIFY_REVERIFY_AFTER_DAYS = envint("VERIFY_REVERIFY_AFTER_DAYS", 30)
# A point deleted in a geo-redundant vault's primary copy stays in its secondary this long (a deletion, mistaken
# or malicious, is undone from the copy meanwhile).
REPLICATION_DELETE_DELAY_S = envint("REPLICATION_DELETE_DELAY_S", 14 * 86400)
# Garbage collection keeps unreferenced chunks younger than this: the safety margin for a writer that holds no lease.
GC_GRACE_S = envint("GC_GRACE_S", 3600)
