"""The resource guard's rules: requests, approvals by the security role only, expiry, the audit log."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backup.guard import services as guard
from backup.guard.models import ApprovalRequest, AuditEvent
from backup.jobs.errors import Refused
from backup.jobs.models import Job, Operation
from backup.vms.services import manage


def _refused_request(item, user) -> ApprovalRequest:
    with pytest.raises(guard.ApprovalRequired, match="protected by the resource guard 'alpha-guard'") as refusal:
        manage.stop_protection(item, user=user, delete_data=True)
    return refusal.value.request


def test_without_a_guard_nothing_changes(alpha, alice):
    from tests.factories import make_protected_item

    item = make_protected_item(alpha, os_mib=0.25, data_mib=0.25)
    assert manage.stop_protection(item, user=alice, delete_data=True).operation == Operation.STOP_PROTECTION


def test_a_refused_operation_keeps_one_pending_request_and_runs_once_after_approval(item, alice, approve):
    request = _refused_request(item, alice)
    assert _refused_request(item, alice).pk == request.pk  # asking again does not pile up requests
    assert not Job.objects.filter(operation=Operation.STOP_PROTECTION).exists()
    approve(request.pk)
    job = manage.stop_protection(item, user=alice, delete_data=True, approval=request.pk)
    assert job.params["delete_data"] is True
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.USED
    kinds = list(AuditEvent.objects.filter(request=request).order_by("at", "id").values_list("kind", flat=True))
    assert kinds == ["requested", "approved", "performed"]


def test_no_one_approves_their_own_request_and_only_the_role_approves(item, alice, bob, charlie, sue, security):
    request = _refused_request(item, alice)
    with pytest.raises(Refused, match="Only a member of 'Security'"):
        guard.decide(request, charlie, approve=True, reason="ok")
    sue_request = ApprovalRequest.objects.create(guard=request.guard, operation="delete_vault", target="vault:1",
                                                 requested_by=sue)
    with pytest.raises(Refused, match="your own request"):
        guard.decide(sue_request, sue, approve=True, reason="ok")
    bob.groups.add(security)  # a member of the subscription holding the role too
    with pytest.raises(Refused, match="cannot be decided by a member of the subscription"):
        guard.decide(request, bob, approve=True, reason="ok")
    with pytest.raises(Refused, match="Give the reason"):
        guard.decide(request, sue, approve=True, reason=" ")


def test_an_approval_expires_after_an_hour(item, alice, approve):
    request = _refused_request(item, alice)
    approve(request.pk)
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Refused, match=f"The approval of request {request.pk} expired"):
        manage.stop_protection(item, user=alice, delete_data=True, approval=request.pk)
    assert not Job.objects.filter(operation=Operation.STOP_PROTECTION).exists()


def test_the_approval_is_for_its_requester_and_its_target_only(item, alice, bob, approve):
    request = _refused_request(item, alice)
    approve(request.pk)
    with pytest.raises(Refused, match="made by another user"):
        manage.stop_protection(item, user=bob, delete_data=True, approval=request.pk)
    with pytest.raises(Refused, match="is for Delete backup data"):
        guard.require_approval(alice, item.vault.subscription_id, "delete_vault", "vault:1", request_id=request.pk)


def test_a_rejected_request_stays_refused(item, alice, sue):
    request = _refused_request(item, alice)
    guard.decide(request, sue, approve=False, reason="not planned")
    with pytest.raises(Refused, match="rejected by sue: not planned"):
        manage.stop_protection(item, user=alice, delete_data=True, approval=request.pk)


def test_the_security_role_approves_through_the_api_and_the_cli(client, item, alice, sue, api_headers):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    request = _refused_request(item, alice)
    assert [r["id"] for r in client.get("/api/v1/approval-requests", headers=api_headers(alice)).json()] == \
        [request.pk]
    url = f"/api/v1/approval-requests/{request.pk}/approve"
    own = client.post(url, {"reason": "mine"}, content_type="application/json", headers=api_headers(alice))
    assert own.status_code == 400 and "Only a member of 'Security'" in own.json()["detail"]
    response = client.post(url, {"reason": "change 7"}, content_type="application/json", headers=api_headers(sue))
    assert response.status_code == 200 and response.json()["status"] == "Approved"
    with pytest.raises(CommandError, match="only a request waiting for approval"):
        call_command("backup", "--user", "sue", "approval", "approve", str(request.pk), "--reason", "again",
                     stdout=io.StringIO())
    second = ApprovalRequest.objects.create(guard=request.guard, operation="delete_vault", target="vault:9",
                                            requested_by=alice)
    out = io.StringIO()
    call_command("backup", "--user", "sue", "approval", "reject", str(second.pk), "--reason", "no", stdout=out)
    assert "Rejected" in out.getvalue()
