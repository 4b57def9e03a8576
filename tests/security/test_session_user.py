"""The session's user (portal/auth.py): read with SQL built once, with Django's checks, and sessions from before the
backend was renamed keep their user signed in."""

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.auth import DJANGO_MODEL_BACKEND, MODEL_BACKEND
from tests.conftest import PASSWORD


def _session(client, user, backend: str) -> SessionStore:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = backend
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return store


@pytest.mark.django_db
def test_signing_in_names_the_portals_backend_and_pages_open(client, alice):
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert client.session[BACKEND_SESSION_KEY] == MODEL_BACKEND
    response = client.get("/")
    assert response.status_code == 200 and response.wsgi_request.user == alice


@pytest.mark.django_db
def test_a_session_from_before_keeps_its_user_signed_in_and_is_renamed(client, alice):
    store = _session(client, alice, DJANGO_MODEL_BACKEND)
    response = client.get("/")
    assert response.status_code == 200 and response.wsgi_request.user == alice
    assert SessionStore(store.session_key).load()[BACKEND_SESSION_KEY] == MODEL_BACKEND
    assert client.get("/").wsgi_request.user == alice


@pytest.mark.django_db
def test_the_user_is_read_in_one_query_of_the_users_table(client, alice):
    _session(client, alice, MODEL_BACKEND)
    client.get("/")  # the query is built on first use
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/healthz").wsgi_request.user == alice
    users = [q["sql"] for q in queries.captured_queries if "auth_user" in q["sql"]]
    assert len(users) == 1


@pytest.mark.django_db
def test_a_deactivated_user_is_signed_out(client, alice):
    _session(client, alice, MODEL_BACKEND)
    alice.is_active = False
    alice.save()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_deleted_user_and_a_changed_password_sign_the_session_out(client, alice, bob):
    _session(client, alice, MODEL_BACKEND)
    alice.delete()
    assert client.get("/").status_code == 302
    _session(client, bob, MODEL_BACKEND)
    bob.set_password("another long passphrase 42")
    bob.save()
    response = client.get("/")
    assert response.status_code == 302 and not response.wsgi_request.user.is_authenticated


@pytest.mark.django_db
def test_a_session_naming_an_unlisted_backend_or_a_bad_key_is_anonymous(client, alice):
    _session(client, alice, "django.contrib.auth.backends.RemoteUserBackend")
    assert client.get("/").status_code == 302
    store = _session(client, alice, MODEL_BACKEND)
    store[SESSION_KEY] = str(2**40)  # no user holds such a key
    store.save()
    assert client.get("/").status_code == 302
