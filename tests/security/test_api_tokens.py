"""API tokens are stored hashed and can be revoked (service and `manage.py revoke_token`)."""

import hashlib

import pytest
from django.core.management import CommandError, call_command

from backup.tenancy.models import ApiToken
from backup.tenancy.services import issue_token, revoke_token


@pytest.mark.django_db
def test_a_token_is_stored_only_as_its_hash(client, alice):
    raw = issue_token(alice)
    token = ApiToken.objects.get(user=alice)
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {token.token_hash, token.prefix, token.name} and len(token.prefix) == 12
    response = client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    # Knowing the stored hash is not enough to call the API.
    assert client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {token.token_hash}").status_code == 401


@pytest.mark.django_db
def test_a_revoked_token_is_refused_and_others_keep_working(client, alice):
    revoked, kept = issue_token(alice), issue_token(alice)
    assert revoke_token(alice, revoked[:12]) == 1
    assert client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {revoked}").status_code == 401
    assert client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {kept}").status_code == 200


@pytest.mark.django_db
def test_a_user_cannot_revoke_someone_elses_token(alice, charlie):
    raw = issue_token(alice)
    assert revoke_token(charlie, raw[:12]) == 0
    assert ApiToken.objects.active().filter(user=alice).count() == 1


@pytest.mark.django_db
def test_manage_py_revoke_token_lists_and_revokes(client, alice, capsys):
    raw = issue_token(alice, name="laptop")
    call_command("revoke_token", "alice")
    assert raw[:12] in capsys.readouterr().out
    call_command("revoke_token", "alice", raw[:12])
    assert "Revoked 1 token" in capsys.readouterr().out
    assert client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    with pytest.raises(CommandError, match="no active token"):
        call_command("revoke_token", "alice", raw[:12])
    with pytest.raises(CommandError, match="No user"):
        call_command("revoke_token", "nobody", "abp_x")
