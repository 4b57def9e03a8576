"""Sign-in: failed attempts are rate limited (django-axes), passwords must be strong."""

import html
import io
import re
import shlex
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management import call_command

from tests.conftest import PASSWORD


def _sign_in(client, username, password, ip="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_it_signs_in_with_the_right_password(client, alice):
    response = _sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.django_db
def test_it_locks_a_user_name_at_an_address_out_after_five_failures_with_a_message_on_the_login_page(client, alice):
    for attempt in range(4):
        response = _sign_in(client, "alice", f"wrong-{attempt}", ip="10.0.0.1")
        assert response.status_code == 200  # the form again, with "Please enter a correct username..."
    # The fifth failure locks the name at this address.
    assert _sign_in(client, "alice", "wrong-4", ip="10.0.0.1").status_code == 429
    # Even the right password is refused now from that address, until the cool-off ends.
    response = _sign_in(client, "alice", PASSWORD, ip="10.0.0.1")
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed sign-in attempts" in body and "locked for 15 minutes" in body
    assert 'id="id_username"' in body  # still the sign-in page, not a bare error
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_failures_spread_over_addresses_do_not_lock_the_user_out_everywhere(client, alice):
    for attempt in range(5):
        assert _sign_in(client, "alice", f"wrong-{attempt}", ip=f"10.0.0.{attempt + 1}").status_code == 200
    # Nobody can lock alice out by guessing at her name from elsewhere.
    assert _sign_in(client, "alice", PASSWORD, ip="10.9.9.9").status_code == 302


@pytest.mark.django_db
def test_many_user_names_failing_at_one_address_do_not_lock_the_others_there(client, alice, bob):
    for name in ["alice", "carol", "dave", "erin", "frank", "grace"]:
        _sign_in(client, name, "wrong-password", ip="10.1.1.1")
    # One office behind one address (NAT, localhost): bob signs in although the address saw six failures.
    assert _sign_in(client, "bob", PASSWORD, ip="10.1.1.1").status_code == 302


@pytest.mark.django_db
def test_the_command_the_lockout_page_names_lifts_the_lock(client, alice, bob):
    for attempt in range(5):
        _sign_in(client, "alice", f"wrong-{attempt}", ip="10.5.5.5")
    page = _sign_in(client, "alice", PASSWORD, ip="10.5.5.5")
    assert page.status_code == 429
    command = re.search(r"manage\.py (axes_reset_ip_username [^)]+)\)", html.unescape(page.content.decode()))
    assert command is not None, page.content.decode()
    assert shlex.split(command[1]) == ["axes_reset_ip_username", "10.5.5.5", "alice"]
    call_command(*shlex.split(command[1]), stdout=io.StringIO())
    assert _sign_in(client, "alice", PASSWORD, ip="10.5.5.5").status_code == 302


@pytest.mark.django_db
def test_the_readme_names_the_command_that_lifts_a_lock():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    assert "axes_reset_ip_username ADDRESS NAME" in readme and "axes_reset_username" not in readme


@pytest.mark.django_db
def test_a_success_resets_the_failure_count(client, alice):
    for attempt in range(4):
        _sign_in(client, "alice", f"wrong-{attempt}", ip=f"10.3.0.{attempt}")
    assert _sign_in(client, "alice", PASSWORD, ip="10.3.1.1").status_code == 302
    client.logout()
    for attempt in range(4):
        _sign_in(client, "alice", f"again-{attempt}", ip=f"10.4.0.{attempt}")
    assert _sign_in(client, "alice", PASSWORD, ip="10.4.1.1").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["short-Pw1!", "password1234", "12345678901234"])
def test_weak_passwords_are_refused(alice, password):
    with pytest.raises(ValidationError):
        password_validation.validate_password(password, user=alice)


@pytest.mark.django_db
def test_a_long_uncommon_password_is_accepted(alice):
    password_validation.validate_password("Violet-Kettle-Harbour-42", user=alice)
