"""The guard's events are security alerts: requested, approved, rejected, expired unused, and changes to the
guard itself; every rule delivers them, whatever its filters (or its switch) say."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from backup.alerts.models import Alert, AlertRule, AlertTarget, Delivery, Kind
from backup.alerts.services import checks
from backup.guard import services as guard
from backup.guard.models import ApprovalRequest, GuardedOperation
from backup.vms.services import manage


@pytest.fixture(autouse=True)
def commit_at_once(monkeypatch):
    # The test runs in one transaction that never commits: what waits for the commit runs at once.
    monkeypatch.setattr("django.db.transaction.on_commit", lambda fn, *a, **k: fn())


def _request(item, user) -> ApprovalRequest:
    with pytest.raises(guard.ApprovalRequired) as refusal:
        manage.stop_protection(item, user=user, delete_data=True)
    return refusal.value.request


def _alert(kind: str) -> Alert:
    return Alert.objects.get(kind=kind)


def test_a_request_and_its_approval_raise_security_alerts(item, alice, sue, approve):
    request = _request(item, alice)
    requested = _alert(Kind.APPROVAL_REQUESTED)
    assert requested.is_security and requested.vault_id == item.vault_id
    assert f"Request {request.pk}: Delete backup data of '{item.vm_name}', asked by alice" in requested.message
    assert "a member of 'Security'" in requested.message
    approve(request.pk)
    granted = _alert(Kind.APPROVAL_GRANTED)
    assert granted.is_security and "approved by sue: ticket 42" in granted.message


def test_a_rejection_raises_its_alert(item, alice, sue):
    request = _request(item, alice)
    guard.decide(request, sue, approve=False, reason="not planned")
    assert "was rejected by sue: not planned" in _alert(Kind.APPROVAL_REJECTED).message
    assert not Alert.objects.filter(kind=Kind.APPROVAL_GRANTED).exists()


def test_an_approval_that_expired_unused_is_alerted_on_once(item, alice, approve):
    request = _request(item, alice)
    approve(request.pk)
    assert checks.evaluate() == 0 and not Alert.objects.filter(kind=Kind.APPROVAL_EXPIRED).exists()
    later = timezone.now() + timedelta(hours=1, minutes=1)
    checks.evaluate(later)
    expired = _alert(Kind.APPROVAL_EXPIRED)
    assert expired.is_security and "not used before" in expired.message
    expired.state = Alert.State.RESOLVED  # acknowledged: the next check does not raise it again
    expired.save()
    checks.evaluate(later + timedelta(minutes=1))
    assert Alert.objects.filter(kind=Kind.APPROVAL_EXPIRED).count() == 1


def test_a_used_approval_is_not_an_expired_one(item, alice, approve):
    approve(_request(item, alice).pk)
    manage.stop_protection(item, user=alice, delete_data=True)
    checks.evaluate(timezone.now() + timedelta(hours=2))
    assert not Alert.objects.filter(kind=Kind.APPROVAL_EXPIRED).exists()


def test_changing_or_removing_a_guard_is_a_security_alert(alpha, resource_guard):
    created = _alert(Kind.GUARD_CHANGED)
    assert "now protects delete backup data" in created.message and created.severity == "critical"
    resource_guard.operations = [GuardedOperation.DELETE_VAULT]
    resource_guard.security_group = Group.objects.create(name="Auditors")
    resource_guard.save()
    created.refresh_from_db()
    assert created.count == 2
    assert "no longer protects delete backup data, reduce retention" in created.message
    assert "approved by members of 'Auditors' instead of 'Security'" in created.message
    resource_guard.delete()
    created.refresh_from_db()
    assert "was removed" in created.message


def test_a_switched_off_rule_filtered_to_other_kinds_still_delivers_them(item, alice):
    target = AlertTarget.objects.create(subscription=item.vault.subscription, name="m", type="email",
                                        emails="sec@example.com")
    rule = AlertRule.objects.create(subscription=item.vault.subscription, name="failures only", enabled=False,
                                    kinds=[Kind.BACKUP_FAILED], severities=["critical"])
    rule.targets.set([target])
    _request(item, alice)
    assert Delivery.objects.filter(alert__kind=Kind.APPROVAL_REQUESTED, target=target).count() == 1
