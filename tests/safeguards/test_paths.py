"""Every path (portal form, API, CLI, Django admin) goes through the same safeguards: on a locked vault each
reduction is refused, a superuser's admin included; on a vault without immutability it runs."""

import html
import io
import json

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from backup.jobs.models import Job, Operation
from backup.vaults.models import Vault
from backup.vms.admin_safeguards import PolicyAdminForm
from backup.vms.models import BackupPolicy, ProtectedItem
from backup.vms.services import manage
from tests.vms.helpers import run_jobs

from .conftest import immutability

LOCKED = "its immutability is locked"
PATHS = ["portal", "api", "cli", "admin"]


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", None)


@pytest.fixture
def stopped(backed_up, alice):
    run_jobs(manage.stop_protection(backed_up, user=alice))
    backed_up.refresh_from_db()
    return backed_up


def cli(*args) -> str:
    out = io.StringIO()
    call_command("backup", "--user", "alice", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def api(client, headers, method: str, url: str, body: dict | None = None):
    return getattr(client, method)(f"/api/v1{url}", json.dumps(body or {}), content_type="application/json",
                                   headers=headers)


def _admin_messages(response, level: int | None = None) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request) if level is None or m.level == level)


def delete_data(path: str, item, client, alice, root, api_headers) -> str:
    """Delete the item's backup data by `path`; the refusal's text, or "" when it was accepted."""
    if path == "portal":
        client.force_login(alice)
        r = client.post(reverse("vault-delete-backup-data", args=[item.vault_id]), {"item": item.pk},
                        headers={"HX-Request": "true"})
        return "" if r.get("HX-Redirect") else html.unescape(r.content.decode())
    if path == "api":
        r = api(client, api_headers(alice), "post", f"/protected-items/{item.pk}/delete-backup-data")
        return "" if r.status_code == 202 else r.json()["detail"]
    if path == "cli":
        try:
            cli("stop-protection", "--item", str(item.pk), "--delete-data")
        except CommandError as error:
            return str(error)
        return ""
    client.force_login(root)
    r = client.post(reverse("admin:vms_protecteditem_delete", args=[item.pk]), {"post": "yes"})
    assert r.status_code == 302
    return _admin_messages(r, messages.ERROR)


@pytest.mark.parametrize("path", PATHS)
def test_deleting_backup_data_is_refused_on_a_locked_vault(path, stopped, client, alice, root, api_headers):
    immutability(stopped.vault, "locked")
    refusal = delete_data(path, stopped, client, alice, root, api_headers)
    assert LOCKED in refusal and "Deleting the backup data of" in refusal
    assert not Job.objects.filter(operation=Operation.DELETE_BACKUP_DATA).exists()
    assert ProtectedItem.objects.get(pk=stopped.pk).purge_at is None


@pytest.mark.parametrize("path", PATHS)
def test_deleting_backup_data_soft_deletes_and_undelete_brings_it_back(path, stopped, client, alice, root,
                                                                       api_headers):
    assert delete_data(path, stopped, client, alice, root, api_headers) == ""
    run_jobs(list(Job.objects.filter(operation=Operation.DELETE_BACKUP_DATA)))
    item = ProtectedItem.objects.get(pk=stopped.pk)
    assert item.is_soft_deleted and item.recovery_points.count() == 1
    if path == "portal":
        r = client.post(reverse("vault-undelete", args=[item.vault_id]), {"item": item.pk},
                        headers={"HX-Request": "true"})
        assert r.get("HX-Redirect")
    elif path == "api":
        r = api(client, api_headers(alice), "post", f"/protected-items/{item.pk}/undelete")
        assert r.status_code == 200 and r.json()["status_label"] == "Protection stopped"
    elif path == "cli":
        assert "Protection stopped" in cli("undelete", "--item", str(item.pk))
    else:
        r = client.post(reverse("admin:vms_protecteditem_changelist"),
                        {"action": "undelete", "_selected_action": [item.pk]})
        assert "Undeleted" in _admin_messages(r)
    assert not ProtectedItem.objects.get(pk=item.pk).is_soft_deleted


POLICY_FORM = {"frequency": "daily", "time_of_day": "22:00", "timezone": "UTC"}


def reduce_policy(path: str, policy: BackupPolicy, client, alice, root, api_headers) -> str:
    days = 7
    if path == "portal":
        client.force_login(alice)
        r = client.post(reverse("vault-policy-edit", args=[policy.vault_id, policy.pk]),
                        POLICY_FORM | {"name": policy.name, "daily_retention_days": str(days)},
                        headers={"HX-Request": "true"})
        return "" if r.get("HX-Redirect") else html.unescape(r.content.decode())
    if path == "api":
        r = api(client, api_headers(alice), "put", f"/vaults/{policy.vault_id}/policies/{policy.pk}",
                POLICY_FORM | {"name": policy.name, "daily_retention_days": days})
        return "" if r.status_code == 200 else r.json()["detail"]
    if path == "admin":
        from django.forms.models import model_to_dict

        data = {k: v for k, v in model_to_dict(policy).items() if v is not None} | {"daily_retention_days": days}
        form = PolicyAdminForm(data=data, instance=policy)
        return "" if form.is_valid() else " ".join(form.non_field_errors())
    pytest.skip("the CLI has no policy command")


@pytest.mark.parametrize("path", ["portal", "api", "admin"])
def test_a_policy_that_keeps_less_is_refused_on_a_locked_vault(path, backed_up, client, alice, root, api_headers):
    immutability(backed_up.vault, "locked")
    policy = backed_up.policy
    refusal = reduce_policy(path, policy, client, alice, root, api_headers)
    assert LOCKED in refusal
    assert f"Changing the policy '{policy.name}' to keep less (daily 30 days -> 7 days)" in refusal
    assert BackupPolicy.objects.get(pk=policy.pk).daily_retention_days == 30


@pytest.mark.parametrize("path", ["portal", "api", "admin"])
def test_a_policy_that_keeps_less_is_allowed_without_immutability(path, backed_up, client, alice, root,
                                                                  api_headers):
    assert reduce_policy(path, backed_up.policy, client, alice, root, api_headers) == ""


def change_safeguard(path: str, vault: Vault, what: str, state: str, client, alice, root, api_headers) -> str:
    """what: "immutability" or "soft_delete"."""
    if path == "portal":
        client.force_login(alice)
        r = client.post(reverse("vault-security", args=[vault.pk]), {"form": what, what: state,
                                                                      "soft_delete_days": vault.soft_delete_days})
        return r.content.decode() if b'id="security-error"' in r.content else ""
    if path == "api":
        url = f"/vaults/{vault.pk}/{'immutability' if what == 'immutability' else 'soft-delete'}"
        r = api(client, api_headers(alice), "put", url, {"state": state})
        return "" if r.status_code == 200 else r.json()["detail"]
    if path == "cli":
        try:
            cli("vault", "immutability" if what == "immutability" else "soft-delete", str(vault.pk), "--state", state)
        except CommandError as error:
            return str(error)
        return ""
    client.force_login(root)
    action = {("immutability", "disabled"): "disable_immutability", ("soft_delete", "disabled"): "turn_soft_delete_off",
              ("immutability", "locked"): "lock_immutability"}[(what, state)]
    r = client.post(reverse("admin:vaults_vault_changelist"), {"action": action, "_selected_action": [vault.pk]})
    return _admin_messages(r, messages.ERROR)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("what", ["immutability", "soft_delete"])
def test_turning_a_safeguard_off_is_refused_on_a_locked_vault(path, what, item, client, alice, root, api_headers):
    vault = immutability(item.vault, "locked")
    refusal = change_safeguard(path, vault, what, "disabled", client, alice, root, api_headers)
    assert "locked" in refusal
    vault.refresh_from_db()
    assert vault.immutability == "locked" and vault.soft_delete == "enabled"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("what", ["immutability", "soft_delete"])
def test_turning_a_safeguard_off_runs_when_nothing_locks_it(path, what, item, client, alice, root, api_headers):
    vault = immutability(item.vault, "enabled" if what == "immutability" else "disabled")
    assert change_safeguard(path, vault, what, "disabled", client, alice, root, api_headers) == ""
    vault.refresh_from_db()
    assert getattr(vault, what) == "disabled"


@pytest.mark.parametrize("path", PATHS)
def test_a_vault_with_soft_deleted_items_cannot_be_deleted(path, stopped, client, alice, root, api_headers):
    run_jobs(manage.delete_backup_data(stopped, user=alice))
    vault = stopped.vault
    if path == "portal":
        client.force_login(alice)
        text = client.post(reverse("vault-delete", args=[vault.pk]), headers={"HX-Request": "true"}).content.decode()
    elif path == "api":
        text = api(client, api_headers(alice), "delete", f"/vaults/{vault.pk}").json()["detail"]
    elif path == "cli":
        pytest.skip("the CLI has no vault delete command")
    else:
        client.force_login(root)
        text = _admin_messages(client.post(reverse("admin:vaults_vault_delete", args=[vault.pk]), {"post": "yes"}))
    assert "soft-deleted backup data (1 soft-deleted item" in text
    assert Vault.objects.filter(pk=vault.pk, status=Vault.Status.ACTIVE).exists()
    assert not Job.objects.filter(operation=Operation.DELETE_VAULT).exists()


def test_the_pages_show_the_soft_deleted_item_and_the_vaults_safeguards(stopped, client, alice):
    run_jobs(manage.delete_backup_data(stopped, user=alice))
    stopped.refresh_from_db()
    client.force_login(alice)
    page = client.get(reverse("vault-protected", args=[stopped.vault_id])).content.decode()
    assert f"Soft deleted - purge on {stopped.purge_at:%Y-%m-%d}" in page and 'id="cmd-undelete"' in page
    page = client.get(reverse("vault-configure", args=[stopped.vault_id])).content.decode()
    assert 'id="soft-delete-form"' in page and 'id="immutability-form"' in page and 'value="14"' in page
