"""Each guarded operation on each path (portal form, API, CLI, admin): refused without an approval, naming the
request, and run after a member of the security role approved it."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from backup.guard.models import ApprovalRequest
from backup.jobs.models import Job, Operation
from backup.tenancy.models import ApiToken
from backup.tenancy.services import issue_token
from backup.vaults.models import Vault
from backup.vms.models import BackupPolicy, ProtectedItem
from tests.factories import make_vault


def _last_request() -> ApprovalRequest:
    return ApprovalRequest.objects.order_by("-pk").first()


def _jobs(operation) -> int:
    return Job.objects.filter(operation=operation).count()


@pytest.fixture
def operator_client(client, django_user_model):
    olga = django_user_model.objects.create_user(username="olga", is_staff=True)
    olga.groups.add(Group.objects.get(name="Operators"))
    client.force_login(olga)
    return client


def _ask(client, url: str, data: dict, reason: str = "planned clean-up") -> ApprovalRequest:
    """The portal's way: refused with REQUEST APPROVAL offered and no request yet; asking records it."""
    refused = client.post(url, data)
    assert b"protected by the resource guard" in refused.content and b'id="request-approval"' in refused.content
    assert not ApprovalRequest.objects.exists()
    unexplained = client.post(url, data | {"request_approval": "yes", "approval_reason": " "})
    assert b"Give the reason for your request" in unexplained.content and not ApprovalRequest.objects.exists()
    asked = client.post(url, data | {"request_approval": "yes", "approval_reason": reason})
    request = _last_request()
    assert f"Request {request.pk} is waiting for approval".encode() in asked.content
    assert b'id="approval-waiting"' in asked.content and request.reason == reason
    return request


def _admin_action(client, model: str, action: str, pk: int):
    app, name = model.split(".")
    return client.post(reverse(f"admin:{app}_{name}_changelist"), follow=True,
                       data={"action": action, "_selected_action": [str(pk)]})


# -- delete backup data ----------------------------------------------------------------------------------------
def test_portal_stop_protection_with_delete_needs_an_approval(alice_client, item, approve):
    url = reverse("vault-stop-protection", args=[item.vault_id])
    data = {"item": [item.pk], "delete_data": "on", "reason": "Other"}
    request = _ask(alice_client, url, data)
    assert _jobs(Operation.STOP_PROTECTION) == 0
    assert alice_client.post(url, data).status_code == 200  # still pending
    approve(request.pk)
    assert alice_client.post(url, data).status_code == 302
    assert _jobs(Operation.STOP_PROTECTION) == 1


def test_portal_delete_backup_data_needs_an_approval(alice_client, item, approve):
    ProtectedItem.objects.filter(pk=item.pk).update(status=ProtectedItem.Status.STOPPED)
    url = reverse("vault-delete-backup-data", args=[item.vault_id])
    request = _ask(alice_client, url, {"item": [item.pk]})
    assert _jobs(Operation.DELETE_BACKUP_DATA) == 0
    approve(request.pk)
    assert alice_client.post(url, {"item": [item.pk]}).status_code == 302
    assert _jobs(Operation.DELETE_BACKUP_DATA) == 1


def test_api_delete_backup_data_answers_403_with_the_request_then_runs_with_it(client, alice, item, approve,
                                                                                api_headers):
    headers = api_headers(alice)
    url = f"/api/v1/protected-items/{item.pk}/stop-protection"
    response = client.post(url, {"delete_data": True}, content_type="application/json", headers=headers)
    assert response.status_code == 403
    request_id = response.json()["approval_request"]
    assert f"Request {request_id} is waiting for approval" in response.json()["detail"]
    pending = client.post(url, {"delete_data": True, "approval_request": request_id},
                          content_type="application/json", headers=headers)
    assert pending.status_code == 400 and "still waiting" in pending.json()["detail"]
    approve(request_id)
    response = client.post(url, {"delete_data": True, "approval_request": request_id},
                           content_type="application/json", headers=headers)
    assert response.status_code == 202 and _jobs(Operation.STOP_PROTECTION) == 1
    again = client.post(url, {"delete_data": True, "approval_request": request_id},
                        content_type="application/json", headers=headers)
    assert again.status_code == 400  # used once; the item is stopped now, and the request used


def test_cli_stop_protection_with_delete_needs_the_approved_request(alice, item, approve):
    def cli(*args):
        call_command("backup", "--user", "alice", "stop-protection", "--item", str(item.pk), "--delete-data", *args,
                     stdout=io.StringIO(), stderr=io.StringIO())

    with pytest.raises(CommandError, match="protected by the resource guard"):
        cli()
    request = _last_request()
    approve(request.pk)
    cli("--approval", str(request.pk))
    assert _jobs(Operation.STOP_PROTECTION) == 1


def test_admin_delete_backup_data_goes_through_the_guard(operator_client, item, approve):
    # The delete page runs the portal's operation (soft delete's admin_safeguards), so the guard holds it too.
    page = operator_client.post(reverse("admin:vms_protecteditem_delete", args=[item.pk]), {"post": "yes"},
                                follow=True)
    assert b"protected by the resource guard" in page.content and _jobs(Operation.STOP_PROTECTION) == 0
    response = _admin_action(operator_client, "vms.protecteditem", "delete_backup_data", item.pk)
    assert b"protected by the resource guard" in response.content and _jobs(Operation.STOP_PROTECTION) == 0
    approve(_last_request().pk)
    _admin_action(operator_client, "vms.protecteditem", "delete_backup_data", item.pk)
    assert _jobs(Operation.STOP_PROTECTION) == 1


# -- delete the vault --------------------------------------------------------------------------------------------
@pytest.fixture
def empty_vault(alpha, resource_guard):
    return make_vault(alpha, name="Empty")


def test_portal_delete_vault_needs_an_approval(alice_client, empty_vault, approve):
    url = reverse("vault-delete", args=[empty_vault.pk])
    request = _ask(alice_client, url, {"reason": "Other"})
    assert _jobs(Operation.DELETE_VAULT) == 0
    approve(request.pk)
    assert alice_client.post(url, {"reason": "Other"}).status_code == 302
    assert Vault.objects.get(pk=empty_vault.pk).status == Vault.Status.DELETING


def test_api_delete_vault_needs_an_approval(client, alice, empty_vault, approve, api_headers):
    url, headers = f"/api/v1/vaults/{empty_vault.pk}", api_headers(alice)
    response = client.delete(url, {}, content_type="application/json", headers=headers)
    assert response.status_code == 403
    approve(response.json()["approval_request"])
    response = client.delete(url, {"approval_request": response.json()["approval_request"]},
                             content_type="application/json", headers=headers)
    assert response.status_code == 202 and _jobs(Operation.DELETE_VAULT) == 1


def test_admin_delete_vault_needs_an_approval(operator_client, empty_vault, approve):
    page = operator_client.post(reverse("admin:vaults_vault_delete", args=[empty_vault.pk]), {"post": "yes"},
                                follow=True)
    assert b"protected by the resource guard" in page.content and _jobs(Operation.DELETE_VAULT) == 0
    response = _admin_action(operator_client, "vaults.vault", "delete_vaults", empty_vault.pk)
    assert b"protected by the resource guard" in response.content and _jobs(Operation.DELETE_VAULT) == 0
    approve(_last_request().pk)
    _admin_action(operator_client, "vaults.vault", "delete_vaults", empty_vault.pk)
    assert _jobs(Operation.DELETE_VAULT) == 1


# -- reduce retention --------------------------------------------------------------------------------------------
def _policy_form(policy, **changes) -> dict:
    return {"name": policy.name, "frequency": "daily", "time_of_day": "22:00", "timezone": "UTC",
            "daily_retention_days": str(policy.daily_retention_days or "")} | changes


def test_portal_policy_change_that_keeps_less_needs_an_approval(alice_client, policy, approve):
    url = reverse("vault-policy-edit", args=[policy.vault_id, policy.pk])
    assert alice_client.post(url, _policy_form(policy, daily_retention_days="60")).status_code == 302  # keeps more
    policy.refresh_from_db()
    request = _ask(alice_client, url, _policy_form(policy, daily_retention_days="7"))
    assert BackupPolicy.objects.get(pk=policy.pk).daily_retention_days == 60
    approve(request.pk)
    assert alice_client.post(url, _policy_form(policy, daily_retention_days="5")).status_code == 200  # not approved
    assert alice_client.post(url, _policy_form(policy, daily_retention_days="7")).status_code == 302
    assert BackupPolicy.objects.get(pk=policy.pk).daily_retention_days == 7


def test_api_policy_change_that_keeps_less_needs_an_approval(client, alice, policy, approve, api_headers):
    url, headers = f"/api/v1/vaults/{policy.vault_id}/policies/{policy.pk}", api_headers(alice)
    body = {"name": policy.name, "daily_retention_days": 1}
    response = client.put(url, body, content_type="application/json", headers=headers)
    assert response.status_code == 403
    request_id = response.json()["approval_request"]
    approve(request_id)
    response = client.put(f"{url}?approval_request={request_id}", body, content_type="application/json",
                          headers=headers)
    assert response.status_code == 200 and response.json()["daily_retention_days"] == 1


def test_cli_policy_change_that_keeps_less_needs_an_approval(alice, policy, approve):
    def cli(*args):
        call_command("backup", "--user", "alice", "policy", "update", str(policy.pk), "--vault", str(policy.vault_id),
                     "--daily-days", "3", *args, stdout=io.StringIO(), stderr=io.StringIO())

    with pytest.raises(CommandError, match="protected by the resource guard"):
        cli()
    assert BackupPolicy.objects.get(pk=policy.pk).daily_retention_days == 30
    request = _last_request()
    with pytest.raises(CommandError, match="still waiting for approval"):
        cli("--approval", str(request.pk))
    approve(request.pk)
    cli("--approval", str(request.pk))
    assert BackupPolicy.objects.get(pk=policy.pk).daily_retention_days == 3


def test_admin_policy_change_that_keeps_less_needs_an_approval(operator_client, policy, approve):
    url = reverse("admin:vms_backuppolicy_change", args=[policy.pk])
    form = operator_client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields if form.initial.get(name) is not None}
    data |= {"daily_retention_days": 2, "time_of_day": "22:00", "created_at_0": "2026-01-01",
             "created_at_1": "00:00:00", "updated_at_0": "2026-01-01", "updated_at_1": "00:00:00"}
    response = operator_client.post(url, data)
    assert response.status_code == 200 and b"protected by the resource guard" in response.content
    approve(_last_request().pk)
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert BackupPolicy.objects.get(pk=policy.pk).daily_retention_days == 2


# -- revoke another user's token ---------------------------------------------------------------------------------
def test_cli_revoking_another_users_token_needs_an_approval(alice, bob, resource_guard, approve):
    raw = issue_token(bob)

    def cli(*args):
        call_command("revoke_token", "bob", raw[:12], *args, stdout=io.StringIO())

    with pytest.raises(CommandError, match="Say who you are"):
        cli()
    with pytest.raises(CommandError, match="protected by the resource guard"):
        cli("--by", "alice")
    request = _last_request()
    approve(request.pk)
    cli("--by", "alice", "--approval", str(request.pk))
    assert ApiToken.objects.get(prefix=raw[:12]).revoked_at is not None
    own = issue_token(alice)
    call_command("revoke_token", "alice", own[:12], "--by", "alice", stdout=io.StringIO())  # one's own: no approval


def test_admin_revoking_a_token_needs_an_approval(operator_client, bob, resource_guard, approve):
    issue_token(bob)
    token = ApiToken.objects.get(user=bob)
    response = _admin_action(operator_client, "tenancy.apitoken", "revoke", token.pk)
    assert b"protected by the resource guard" in response.content
    approve(_last_request().pk)
    _admin_action(operator_client, "tenancy.apitoken", "revoke", token.pk)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_audit_log_is_read_only_in_the_admin_even_for_operators(operator_client, item, approve):
    from backup.guard.models import AuditEvent

    _admin_action(operator_client, "vms.protecteditem", "delete_backup_data", item.pk)
    event = AuditEvent.objects.get()
    assert operator_client.get(reverse("admin:guard_auditevent_change", args=[event.pk])).status_code in (302, 403)
    assert operator_client.post(reverse("admin:guard_auditevent_delete", args=[event.pk])).status_code in (302, 403)
    assert AuditEvent.objects.count() == 1


# -- disable soft delete, disable immutability -------------------------------------------------------------------
def _turn_off(path: str, vault, what: str, client, alice, api_headers, approval=None):
    """Turn the vault's soft delete or immutability off by `path`; the refusal's text, or "" once it ran."""
    if path == "portal":
        client.force_login(alice)
        url = reverse("vault-security", args=[vault.pk])
        data = {"form": what, what: "disabled", "soft_delete_days": vault.soft_delete_days}
        if approval is None:
            _ask(client, url, data)
            return "protected by the resource guard"
        r = client.post(url, data)
        return r.content.decode() if b'id="security-error"' in r.content else ""
    if path == "api":
        url = f"/api/v1/vaults/{vault.pk}/{'immutability' if what == 'immutability' else 'soft-delete'}"
        r = client.put(url, {"state": "disabled", "approval_request": approval}, content_type="application/json",
                       headers=api_headers(alice))
        if r.status_code == 403:
            assert r.json()["approval_request"] == _last_request().pk
        return "" if r.status_code == 200 else f"{r.status_code} {r.json()['detail']}"
    if path == "cli":
        command = "immutability" if what == "immutability" else "soft-delete"
        extra = ["--approval", str(approval)] if approval else []
        try:
            call_command("backup", "--user", "alice", "vault", command, str(vault.pk), "--state", "disabled", *extra,
                         stdout=io.StringIO(), stderr=io.StringIO())
        except CommandError as error:
            return str(error)
        return ""
    action = "disable_immutability" if what == "immutability" else "turn_soft_delete_off"
    response = _admin_action(client, "vaults.vault", action, vault.pk)
    return response.content.decode() if b"protected by the resource guard" in response.content else ""


@pytest.mark.parametrize("path", ["portal", "api", "cli", "admin"])
@pytest.mark.parametrize("what", ["soft_delete", "immutability"])
def test_turning_a_safeguard_off_needs_an_approval_on_every_path(path, what, request, client, alice, resource_guard,
                                                                 approve, api_headers):
    if path == "admin":
        client = request.getfixturevalue("operator_client")
    vault = make_vault(resource_guard.subscription, name="Guarded")
    if what == "immutability":
        Vault.objects.filter(pk=vault.pk).update(immutability="enabled")
    refusal = _turn_off(path, vault, what, client, alice, api_headers)
    assert "protected by the resource guard" in refusal
    if path == "api":
        assert refusal.startswith("403 ")
    vault.refresh_from_db()
    assert getattr(vault, what) != "disabled"
    request_id = _last_request().pk
    approve(request_id)
    assert _turn_off(path, vault, what, client, alice, api_headers, approval=request_id) == ""
    vault.refresh_from_db()
    assert getattr(vault, what) == "disabled"
    assert _last_request().status == ApprovalRequest.Status.USED
