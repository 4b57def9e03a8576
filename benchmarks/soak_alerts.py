"""`--alerts` of benchmarks/soak.py: alerts switched on, with their receivers and their faults.

An SMTP server (aiosmtpd) and a webhook receiver that checks signatures run in the soak's process on loopback,
under one rule of the soak's subscription. Some machines lose their guest agent, so every backup of theirs fails;
a few sit under a policy whose schedule is off, so they miss their RPO during the run with no job at all; the
private redis-server is stopped once for --alerts-outage seconds and started again empty (unless --chaos already
does that). At the end, once every delivery is settled (bounded), it prints:

alert_latency_p95_s   first failure of an item (its job's end) -> the alert at BOTH receivers
stale_alert_delay_s   the worst of: RPO missed (newest point or protection + interval + grace) -> alert at both
alerts_lost           incidents that should exist and do not, plus raised deliveries never received
alerts_duplicated     delivery keys a receiver got more than once
drills_run            items restored and proven by one Restore Drill job at the end (drills_failed: not proven)
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import time as dtime
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule

from backup.alerts.models import Alert, AlertRule, AlertTarget, Delivery, Kind
from backup.alerts.services import checks
from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import BackupPolicy, ProtectedItem, VirtualMachine
from backup.vms.services.policies import sync_schedule
from tests.alerts.receivers import SmtpReceiver, WebhookReceiver

SECRET = "soak-webhook-secret-0123456789"


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))] if values else 0.0


class AlertsRun:
    def __init__(self, smtp_port: int, args) -> None:
        self.args = args
        self.smtp = SmtpReceiver(smtp_port).start()
        self.hook = WebhookReceiver(SECRET).start()
        self.outage_at = args.minutes * 60 * 0.45
        self.outage_until: float | None = None
        self.restarts = 0

    def seed(self, vault, interval_s: int) -> None:
        subscription = vault.subscription
        mail = AlertTarget.objects.create(
            subscription=subscription, name="soak mail", type="email", emails="ops@example.com"
        )
        hook = AlertTarget.objects.create(
            subscription=subscription, name="soak hook", type="webhook", url=self.hook.url, secret=SECRET
        )
        AlertRule.objects.create(subscription=subscription, name="soak").targets.set([mail, hook])
        items = list(ProtectedItem.objects.filter(vault=vault).order_by("pk"))
        failing, stale = max(3, len(items) // 10), max(2, len(items) // 30)
        self.failing = items[:failing]
        VirtualMachine.objects.filter(pk__in=[i.vm_id for i in self.failing]).update(agent_installed=False)
        # Under a policy whose schedule is off: no job at all. Their RPO is missed right after the broker's outage
        # begins, so the check that finds it is itself held up by the outage.
        self.stale = items[failing : failing + stale]
        policy = BackupPolicy.objects.create(
            vault=vault, name="Soak-off", time_of_day=dtime(22, 0), timezone="UTC", daily_retention_days=7
        )
        task = sync_schedule(policy)
        every, _ = IntervalSchedule.objects.get_or_create(every=interval_s, period=IntervalSchedule.SECONDS)
        task.crontab, task.interval, task.enabled = None, every, False
        task.save()
        self.interval_s = interval_s
        ProtectedItem.objects.filter(pk__in=[i.pk for i in self.stale]).update(policy=policy)

    def begin(self) -> None:
        """The run starts now: the stale items miss their RPO three seconds into the broker's outage."""
        grace = timedelta(seconds=settings.ALERTS_STALE_GRACE_S)
        due = timezone.now() + timedelta(seconds=self.outage_at + 3)
        ProtectedItem.objects.filter(pk__in=[i.pk for i in self.stale]).update(
            protected_at=due - timedelta(seconds=self.interval_s) - grace
        )

    def tick(self, elapsed: float, redis: list, start_redis, chaos: bool, log) -> None:
        if chaos:
            return  # --chaos restarts the broker itself
        if self.outage_until is None and elapsed >= self.outage_at:
            redis[0].terminate()
            redis[0].wait(timeout=10)
            self.outage_until = elapsed + self.args.alerts_outage
            log(f"alerts: redis-server stopped for {self.args.alerts_outage} s")
        elif self.outage_until is not None and redis[0].poll() is not None and elapsed >= self.outage_until:
            redis[0] = start_redis()
            self.restarts += 1
            log("alerts: redis-server started again (empty)")

    def settle(self, limit_s: float = 120) -> float:
        """Wait (bounded) until no delivery is pending or being sent, beat still running."""
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            if not Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]).exists():
                break
            time.sleep(2)
        return time.monotonic() - started

    def _received(self) -> tuple[dict[str, float], dict[str, float], Counter]:
        mails: dict[str, float] = {}
        hooks: dict[str, float] = {}
        seen: Counter = Counter()
        for message, at in zip(self.smtp.messages, self.smtp.arrived, strict=True):
            key = message["X-Backup-Delivery"]
            seen[("mail", key)] += 1
            mails.setdefault(key, at)
        for request in self.hook.requests:
            key = request["headers"].get("X-Backup-Delivery", "")
            seen[("hook", key)] += 1
            if request["valid"]:
                hooks.setdefault(key, request["at"])
        return mails, hooks, seen

    def drill(self, vault, items: int = 6, timeout_s: float = 300) -> None:
        """One restore drill of a few items with points, run by the workers: each restored into a sandbox
        account, proven chunk by chunk against its manifest, then removed."""
        from backup.drills.models import DrillPlan, DrillResult
        from backup.drills.services import start_drill
        from backup.vms.models import StorageAccount

        sandbox = StorageAccount.objects.create(subscription=vault.subscription, name="soakdrill", region="West US")
        plan = DrillPlan.objects.create(vault=vault, name="Soak drill", sandbox_account=sandbox, enabled=False)
        chosen = ProtectedItem.objects.filter(vault=vault, recovery_points__isnull=False).distinct()[:items]
        plan.items.set(chosen)
        job = start_drill(plan)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and Job.objects.filter(pk=job.pk, ended_at__isnull=True).exists():
            time.sleep(2)
        job.refresh_from_db()
        results = DrillResult.objects.filter(plan=plan)
        rto = [r.restore_seconds for r in results if r.restore_seconds is not None]
        print(f"drills_run: {results.count()} (job {job.get_status_display()})")
        print(f"drills_failed: {results.exclude(status=DrillResult.Status.PASSED).count()}")
        print(f"drill_rto_p95_s: {p95(rto):.2f} (max {max(rto, default=0):.2f})")
        print(f"drill_sandbox_leftovers: {len(list(sandbox.folder.glob('*'))) if sandbox.folder.exists() else 0}")

    def report(self) -> None:
        settle_s = self.settle()
        mails, hooks, seen = self._received()
        arrival = mails | hooks

        def at_both(alert: Alert) -> float | None:
            keys = list(
                Delivery.objects.filter(alert=alert, event=Delivery.Event.RAISED).values_list(
                    "idempotency_key", "target__type"
                )
            )
            times = [(mails if kind == "email" else hooks).get(key) for key, kind in keys]
            return max(times) if len(times) == 2 and None not in times else None  # type: ignore[type-var]

        latencies, lost = [], 0
        for item in self.failing:
            failed = Job.objects.filter(operation=Operation.BACKUP, status=JobStatus.FAILED, item_id=item.vm_id)
            if not failed.exists():
                continue
            alerts = list(Alert.objects.filter(kind=Kind.BACKUP_FAILED, item_key=f"vm:{item.vm_id}"))
            if not alerts:
                lost += 1
                continue
            for alert in alerts:
                first = failed.filter(ended_at__lte=alert.first_seen_at).order_by("-ended_at").first()
                received = at_both(alert)
                if received is None:
                    lost += 1
                elif first is not None:
                    latencies.append(received - first.ended_at.timestamp())
        delays = []
        for item in ProtectedItem.objects.filter(pk__in=[i.pk for i in self.stale]).select_related(
            "policy__periodic_task__interval"
        ):
            due = checks.stale_since(item, None)
            alert = Alert.objects.filter(kind=Kind.STALE_PROTECTION, item_key=checks.item_key(item)).first()
            received = at_both(alert) if alert else None
            if received is None:
                lost += 1
            else:
                delays.append(received - due.timestamp())
        undelivered = Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exclude(event=Delivery.Event.TEST)
        missing = [k for k in Delivery.objects.values_list("idempotency_key", flat=True) if k not in arrival]
        kinds = Counter(Alert.objects.values_list("kind", flat=True))
        print(
            f"alerts_raised: {Alert.objects.count()} ({Alert.objects.filter(state='resolved').count()} resolved; "
            f"{', '.join(f'{kind} {n}' for kind, n in sorted(kinds.items()))})"
        )
        planned = {checks.item_key(i) for i in self.stale}
        others = Alert.objects.filter(kind=Kind.STALE_PROTECTION).exclude(item_key__in=planned).count()
        print(f"stale_alerts_unplanned: {others} (items of running schedules whose backups queued past their RPO)")
        print(
            f"alert_deliveries: {Delivery.objects.count()} ({undelivered.count()} not delivered, settled in "
            f"{settle_s:.0f} s)"
        )
        print(f"alert_latency_p95_s: {p95(latencies):.1f} (max {max(latencies, default=0):.1f}, n={len(latencies)})")
        print(f"stale_alert_delay_s: {max(delays, default=0):.1f} (n={len(delays)})")
        print(f"alerts_lost: {lost + len(missing)}")
        print(f"alerts_duplicated: {sum(1 for count in seen.values() if count > 1)}")
        print(f"alerts_broker_restarts: {self.restarts}")
        print(f"alerts_bad_signatures: {sum(1 for r in self.hook.requests if not r['valid'])}")

    def stop(self) -> None:
        self.smtp.stop()
        self.hook.stop()
