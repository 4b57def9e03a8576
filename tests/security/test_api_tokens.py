"""API tokens are stored hashed, can be revoked (service and `manage.py revoke_token`) and can expire."""

import hashlib
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

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


def _age(raw: str, by: timedelta) -> None:
    """Move a token's clock: its expiry comes `by` earlier."""
    token = ApiToken.objects.get(prefix=raw[:12])
    ApiToken.objects.filter(pk=token.pk).update(expires_at=token.expires_at - by)


@pytest.mark.django_db
def test_manage_py_issue_token_with_days_gives_a_token_that_is_refused_after_it(client, alice, capsys):
    call_command("issue_token", "alice", "--days", "30")
    out, err = capsys.readouterr()
    raw = out.strip()
    token = ApiToken.objects.get(prefix=raw[:12])
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" in err
    assert client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200

    _age(raw, timedelta(days=30, seconds=1))
    response = client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail.startswith(f"The API token {raw[:12]}… expired on ") and "manage.py issue_token" in detail
    assert raw not in detail


@pytest.mark.django_db
@pytest.mark.parametrize(("option", "value", "lifetime"), [("--expires-in", "12h", timedelta(hours=12)),
                                                           ("--expires-in", "90m", timedelta(minutes=90)),
                                                           ("--expires-in", "2w", timedelta(weeks=2))])
def test_manage_py_issue_token_takes_a_lifetime_with_a_unit(alice, capsys, option, value, lifetime):
    call_command("issue_token", "alice", option, value)
    token = ApiToken.objects.get(prefix=capsys.readouterr().out.strip()[:12])
    assert abs(token.expires_at - (timezone.now() + lifetime)) < timedelta(minutes=1)


@pytest.mark.django_db
@pytest.mark.parametrize("args", [["--days", "0"], ["--days", "-3"], ["--expires-in", "soon"],
                                  ["--expires-in", "0d"], ["--expires-in", "99999d"]])
def test_manage_py_issue_token_refuses_a_bad_lifetime(alice, args):
    with pytest.raises(CommandError, match="--days|--expires-in"):
        call_command("issue_token", "alice", *args)
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_a_token_without_a_lifetime_never_expires(client, alice, capsys):
    call_command("issue_token", "alice")
    out, err = capsys.readouterr()
    assert ApiToken.objects.get().expires_at is None and "never expires" in err
    assert client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {out.strip()}").status_code == 200


@pytest.mark.django_db
def test_the_token_listing_and_the_admin_show_the_expiry(admin_client, alice, capsys):
    forever = issue_token(alice, name="forever")
    monthly = issue_token(alice, name="monthly", lifetime=timedelta(days=30))
    gone = issue_token(alice, name="gone", lifetime=timedelta(days=1))
    _age(gone, timedelta(days=2))
    call_command("revoke_token", "alice")
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()}
    expires = ApiToken.objects.get(prefix=monthly[:12]).expires_at
    assert lines["forever"].endswith("never expires") and forever[:12] in lines["forever"]
    assert lines["monthly"].endswith(f"expires {expires:%Y-%m-%d %H:%M} UTC")
    assert "  expired " in lines["gone"]
    page = admin_client.get("/admin/tenancy/apitoken/").content.decode()
    assert "column-expires_at" in page


@pytest.mark.django_db
def test_a_tokens_last_use_is_recorded_to_the_minute(client, alice):
    raw = issue_token(alice)
    assert client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    first = ApiToken.objects.get(prefix=raw[:12]).last_used_at
    assert first is not None
    client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert ApiToken.objects.get(prefix=raw[:12]).last_used_at == first  # no write per request
    ApiToken.objects.filter(prefix=raw[:12]).update(last_used_at=first - timedelta(minutes=1))
    client.get("/api/v1/vaults", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert ApiToken.objects.get(prefix=raw[:12]).last_used_at > first
