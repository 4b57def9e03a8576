"""Alerts as incidents: raised by the end of real jobs (run in-process by the runner), one per cause and item,
resolved when the cause goes; security events; stale protection; who gets what."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backup.alerts.models import Alert, AlertRule, AlertTarget, Delivery, Kind
from backup.alerts.services import checks, incidents
from backup.jobs import runner
from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import RecoveryPoint, VirtualMachine
from backup.vms.services import backup as backups
from backup.vms.services import manage, policies
from tests.factories import make_policy, make_protected_item, make_vault

from .conftest import make_targets

pytestmark = pytest.mark.django_db


def _back_up(item, alice) -> Job:
    job = backups.back_up_now(item, alice)
    runner.run(job.pk)
    job.refresh_from_db()
    return job


def _alerts(**filters):
    return list(Alert.objects.filter(**filters))


def test_a_failing_backup_is_one_incident_counted_and_resolved_by_the_next_good_backup(alpha, alice):
    item = make_protected_item(alpha)
    VirtualMachine.objects.filter(pk=item.vm_id).update(agent_installed=False)
    first, second = _back_up(item, alice), _back_up(item, alice)
    assert first.status == second.status == JobStatus.FAILED
    [alert] = _alerts(kind=Kind.BACKUP_FAILED)
    assert (alert.state, alert.count, alert.severity, alert.item_name) == ("active", 2, "critical", item.vm_name)
    assert alert.vault_id == item.vault_id and alert.job_id == second.pk and alert.operation == "Backup"
    assert alert.message == second.error_message and alert.first_seen_at < alert.last_seen_at

    VirtualMachine.objects.filter(pk=item.vm_id).update(agent_installed=True)
    good = _back_up(item, alice)
    assert good.status == JobStatus.COMPLETED
    alert.refresh_from_db()
    assert alert.state == "resolved" and f"Backup job {good.pk} completed" in alert.resolution
    # Success on its own raises nothing, and a new failure opens a new incident.
    assert Alert.objects.count() == 1
    VirtualMachine.objects.filter(pk=item.vm_id).update(agent_installed=False)
    _back_up(item, alice)
    assert Alert.objects.filter(kind=Kind.BACKUP_FAILED, state="active").count() == 1
    assert Alert.objects.count() == 2


def test_a_worker_lost_by_the_reaper_raises_the_failure_too(alpha, settings):
    item = make_protected_item(alpha)
    job = Job.objects.create(subscription=alpha, operation=Operation.RESTORE, vault_id=item.vault_id, item_type="vm",
                             item_id=item.vm_id, item_name=item.vm_name, claimed_at=timezone.now(),
                             heartbeat_at=timezone.now() - timedelta(hours=1))
    assert runner.reap_lost_jobs() == 1
    [alert] = _alerts(kind=Kind.RESTORE_FAILED)
    assert alert.job_id == job.pk and "worker" in alert.message.lower()


def test_stale_protection_is_raised_by_the_check_without_any_job_and_resolved_by_a_new_point(alpha, alice, settings):
    settings.ALERTS_STALE_GRACE_S = 600
    item = make_protected_item(alpha)
    now = timezone.now()
    # The newest point is 2 days old: daily policy, so it was due a day ago plus the grace.
    RecoveryPoint.objects.create(vault=item.vault, protected_item=item, registered_item=item.registered_item,
                                 vm_name=item.vm_name, point_id="old-point", created_at=now - timedelta(days=2),
                                 consistency="crash")
    assert checks.check_stale(now) == 1
    assert checks.check_stale(now + timedelta(minutes=1)) == 1  # found again: still one incident, not counted
    [alert] = _alerts(kind=Kind.STALE_PROTECTION)
    assert alert.count == 1 and alert.item_key == f"vm:{item.vm_id}" and "old-point" not in alert.message
    assert "should have made one by" in alert.message

    # An item protected a minute ago is not stale yet, whatever its (missing) points.
    make_protected_item(alpha, vault=item.vault)
    assert checks.check_stale(now) == 1

    assert _back_up(item, alice).status == JobStatus.COMPLETED
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert checks.check_stale() == 0


def test_the_stale_check_uses_the_interval_of_the_policys_beat_entry(alpha, settings):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    settings.ALERTS_STALE_GRACE_S = 5
    item = make_protected_item(alpha)
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period=IntervalSchedule.SECONDS)
    item.policy.periodic_task = PeriodicTask.objects.create(name="p-30s", task="x", interval=every)
    item.policy.save()
    assert checks.expected_interval(item.policy) == timedelta(seconds=30)
    assert checks.stale_since(item, None) == item.protected_at + timedelta(seconds=35)
    assert checks.check_stale(item.protected_at + timedelta(seconds=34)) == 0
    assert checks.check_stale(item.protected_at + timedelta(seconds=36)) == 1
    weekly = make_policy(item.vault, frequency="weekly", days_of_week=[0, 2])
    assert checks.expected_interval(weekly) == timedelta(days=5)


def test_deleting_backup_data_and_keeping_less_are_security_alerts(alpha, alice):
    item = make_protected_item(alpha)
    job = manage.stop_protection(item, user=alice, delete_data=True)
    runner.run(job.pk)
    [alert] = _alerts(kind=Kind.STOPPED_DATA_DELETED)
    assert alert.is_security and "stopped by alice" in alert.message

    policy = make_policy(item.vault, name="Keep30", daily_retention_days=30, weekly_retention_weeks=10)
    data = {"name": "Keep30", "frequency": "daily", "time_of_day": "22:00", "timezone": "UTC",
            "daily_retention_days": 30, "weekly_retention_weeks": 12}
    policies.update_policy(policy, data)  # keeps more: nothing
    assert not _alerts(kind=Kind.RETENTION_REDUCED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.transaction.on_commit", lambda fn, *a, **k: fn())
        policies.update_policy(policy, data | {"daily_retention_days": 7, "weekly_retention_weeks": None})
    [reduced] = _alerts(kind=Kind.RETENTION_REDUCED)
    assert reduced.message == ("The policy 'Keep30' now keeps less: daily 30 days -> 7 days; "
                               "weekly 12 weeks -> not kept.")
    # Acknowledging closes a security alert (nothing else would).
    incidents.acknowledge(reduced, alice)
    reduced.refresh_from_db()
    assert reduced.state == "resolved" and reduced.acknowledged_by == alice


def test_a_policy_keeping_other_days_for_as_long_raises_the_alert_too(alpha):
    policy = make_policy(make_vault(alpha), name="Sundays")
    data = {"name": "Sundays", "frequency": "daily", "time_of_day": "22:00", "timezone": "UTC",
            "daily_retention_days": 30, "weekly_retention_weeks": 12, "weekly_retention_days": [6]}
    policies.update_policy(policy, data)
    policies.update_policy(policy, data | {"weekly_retention_days": [5, 6]})  # more days: nothing
    assert not _alerts(kind=Kind.RETENTION_REDUCED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.transaction.on_commit", lambda fn, *a, **k: fn())
        policies.update_policy(policy, data | {"weekly_retention_days": [5]})
    [reduced] = _alerts(kind=Kind.RETENTION_REDUCED)
    assert reduced.message == ("The policy 'Sundays' now keeps less: "
                               "Weekly: 12 weeks on Saturday and Sunday -> Weekly: 12 weeks on Saturday.")


def test_rules_route_by_severity_kind_and_vault_but_security_events_always_go(alpha, beta):
    vault = make_vault(alpha)
    other_vault = make_vault(alpha)
    mail = AlertTarget.objects.create(subscription=alpha, name="m", type="email", emails="a@example.com")
    rule = AlertRule.objects.create(subscription=alpha, name="warnings of one vault", severities=["warning"],
                                    kinds=["storage_nearly_full"])
    rule.targets.set([mail])
    rule.vaults.set([vault])
    # Beta's target under a rule of Beta: never called for Alpha's events.
    beta_hook = AlertTarget.objects.create(subscription=beta, name="b", type="webhook", url="http://127.0.0.1:9/",
                                           secret="x" * 20)
    AlertRule.objects.create(subscription=beta, name="beta").targets.set([beta_hook])

    def raise_(kind, v, key):
        return incidents.raise_alert(subscription_id=alpha.pk, vault_id=v.pk, kind=kind, item_key=key)

    assert incidents.targets_for(raise_(Kind.STORAGE_NEARLY_FULL, vault, "vault:a")) == [mail]
    assert incidents.targets_for(raise_(Kind.STORAGE_NEARLY_FULL, other_vault, "vault:b")) == []
    assert incidents.targets_for(raise_(Kind.BACKUP_FAILED, vault, "vm:1")) == []
    rule.enabled = False
    rule.save()
    assert incidents.targets_for(raise_(Kind.BACKUP_DATA_DELETED, other_vault, "vm:2")) == [mail]
    assert not Delivery.objects.filter(target=beta_hook).exists()
    assert set(Delivery.objects.values_list("event", flat=True)) == {"raised"}


def test_a_new_incident_plans_one_delivery_per_target_and_its_resolution_another(alpha):
    vault = make_vault(alpha)
    mail, hook, _ = make_targets(alpha, "http://127.0.0.1:9/")
    for _ in range(3):
        incidents.raise_alert(subscription_id=alpha.pk, vault_id=vault.pk, kind=Kind.BACKUP_FAILED, item_key="vm:7")
    assert Delivery.objects.count() == 2
    incidents.resolve(kind=Kind.BACKUP_FAILED, item_key="vm:7", resolution="ok")
    incidents.resolve(kind=Kind.BACKUP_FAILED, item_key="vm:7", resolution="ok")
    assert sorted(Delivery.objects.values_list("event", "target__type")) == [
        ("raised", "email"), ("raised", "webhook"), ("resolved", "email"), ("resolved", "webhook")]


def test_a_failure_whose_alert_was_never_raised_is_found_by_the_check(alpha, alice):
    """The worker died between ending the job and raising its alert: beat's check raises it, once."""
    from backup.jobs.signals import job_finished

    item = make_protected_item(alpha)
    VirtualMachine.objects.filter(pk=item.vm_id).update(agent_installed=False)
    receivers = job_finished.receivers
    job_finished.receivers = []
    try:
        failed = _back_up(item, alice)
    finally:
        job_finished.receivers = receivers
    assert failed.status == JobStatus.FAILED and not Alert.objects.exists()
    assert checks.check_failed_jobs() == 1
    assert checks.check_failed_jobs() == 0
    [alert] = _alerts(kind=Kind.BACKUP_FAILED)
    assert alert.job_id == failed.pk and alert.count == 1
    # A failure a later success already made good raises nothing.
    Alert.objects.all().delete()
    VirtualMachine.objects.filter(pk=item.vm_id).update(agent_installed=True)
    job_finished.receivers = []
    try:
        assert _back_up(item, alice).status == JobStatus.COMPLETED
    finally:
        job_finished.receivers = receivers
    assert checks.check_failed_jobs() == 0
