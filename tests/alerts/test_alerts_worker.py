"""End to end with real processes: a Celery worker runs the backups and sends the deliveries, celery beat runs the
stale check every two seconds; the mail reaches an SMTP server and the webhook a signature-checking receiver."""

import subprocess
import sys
import time
import types
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from backup.alerts.models import Alert, Delivery, Kind
from backup.jobs import tasks as job_tasks
from backup.jobs.models import Job, JobStatus
from backup.vms.models import RecoveryPoint, VirtualMachine
from backup.vms.services import backup as backups
from tests.factories import make_protected_item, make_vault
from tests.worker import start_worker, stop_worker, wait_for, worker_env

from .conftest import make_targets
from .receivers import SmtpReceiver, WebhookReceiver

GRACE_S = 2


def _received(smtp: SmtpReceiver, hook: WebhookReceiver, event: str, kind: str) -> bool:
    mails = [m for m in smtp.messages if m["X-Backup-Delivery"] and f"-{event}-" in m["X-Backup-Delivery"]
             and kind.split("_")[0].capitalize() in m["Subject"]]
    hooks = [r for r in hook.requests if r["json"]["event"] == f"alert.{event}" and r["json"]["alert"]["kind"] == kind]
    return bool(mails) and bool(hooks)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_failures_and_stale_protection_reach_smtp_and_webhook_through_a_real_worker_and_beat(alpha, alice,
                                                                                            monkeypatch):
    from .conftest import SECRET

    smtp, hook = SmtpReceiver().start(), WebhookReceiver(SECRET).start()
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-alerts"
    real = job_tasks.run_job
    monkeypatch.setattr(job_tasks, "run_job",
                        types.SimpleNamespace(delay=lambda job_id: real.apply_async((job_id,), queue=queue)))
    env = {"CELERY_TASK_DEFAULT_QUEUE": queue, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp.port),
           "ALERTS_STALE_GRACE_S": str(GRACE_S), "ALERTS_CHECK_EVERY_S": "2", "ALERTS_DELIVER_EVERY_S": "2"}
    logs = Path(settings.VAR_DIR) / "logs"
    worker = start_worker("alerts", logs, extra_env=env)
    beat_log = open(logs / "beat-alerts.log", "w")  # noqa: SIM115 - closed below
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
                             "--max-interval", "1"],
                            cwd=settings.BASE_DIR, env=worker_env() | env, stdout=beat_log, stderr=subprocess.STDOUT)
    try:
        vault = make_vault(alpha)
        make_targets(alpha, hook.url)
        failing = make_protected_item(alpha, vault=vault)
        VirtualMachine.objects.filter(pk=failing.vm_id).update(agent_installed=False)

        # A failed backup: raised by the worker's runner, delivered by the worker within seconds.
        job = backups.back_up_now(failing, alice)
        wait_for(lambda: Job.objects.get(pk=job.pk).status == JobStatus.FAILED, timeout=60, message="backup fails")
        ended = Job.objects.get(pk=job.pk).ended_at
        wait_for(lambda: _received(smtp, hook, "raised", "backup_failed"), timeout=30,
                 message="the failure alert at both receivers")
        latency = max(smtp.arrived[0], hook.requests[0]["at"]) - ended.timestamp()
        assert latency < 15, latency
        assert all(r["valid"] for r in hook.requests)

        # Stale protection with no job at all: the newest point misses its RPO in three seconds.
        stale = make_protected_item(alpha, vault=vault)
        due = timezone.now() + timedelta(seconds=3)
        RecoveryPoint.objects.create(vault=vault, protected_item=stale, registered_item=stale.registered_item,
                                     vm_name=stale.vm_name, point_id="aging", consistency="crash",
                                     created_at=due - timedelta(days=1, seconds=GRACE_S))
        assert not Alert.objects.filter(kind=Kind.STALE_PROTECTION).exists()
        wait_for(lambda: _received(smtp, hook, "raised", "stale_protection"), timeout=40,
                 message="the stale alert, from beat's check, at both receivers")
        delay = time.time() - due.timestamp()
        assert delay < 15, delay
        alert = Alert.objects.get(kind=Kind.STALE_PROTECTION)
        assert alert.item_name == stale.vm_name and alert.state == "active"

        # The next good backup resolves the failure, and its targets hear of it.
        VirtualMachine.objects.filter(pk=failing.vm_id).update(agent_installed=True)
        good = backups.back_up_now(failing, alice)
        wait_for(lambda: Job.objects.get(pk=good.pk).status == JobStatus.COMPLETED, timeout=60,
                 message="the good backup")
        wait_for(lambda: _received(smtp, hook, "resolved", "backup_failed"), timeout=30,
                 message="the resolution at both receivers")
        assert Alert.objects.get(kind=Kind.BACKUP_FAILED).state == "resolved"
        # Nothing delivered twice: one message per delivery key at each receiver.
        keys = [r["headers"]["X-Backup-Delivery"] for r in hook.requests]
        assert len(keys) == len(set(keys))
        mail_keys = [m["X-Backup-Delivery"] for m in smtp.messages]
        assert len(mail_keys) == len(set(mail_keys))
        assert not Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exists()
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        beat_log.close()
        stop_worker(worker)
        smtp.stop()
        hook.stop()
