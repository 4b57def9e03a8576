"""Shared people and helpers, after healthchecks' alice, bob and charlie:

- alice belongs to the subscriptions "Alpha" and "Beta",
- bob belongs to "Alpha" only,
- charlie belongs to "Gamma" only, so he is the outsider for everything of Alpha and Beta.
"""

import importlib
import shutil

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from backup.tenancy.models import Membership, Subscription
from backup.tenancy.services import issue_token

PASSWORD = "Correct-Horse-Battery-9"

pytest_plugins = ["tests.worker", "tests.s3server"]


@pytest.fixture(scope="session", autouse=True)
def clean_storage_roots():
    """Start every test session with empty vault and fabric folders (ids restart with the database)."""
    for root in (settings.VAULT_STORAGE_ROOT, settings.FABRIC_ROOT):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def private_storage_roots(request, settings, tmp_path_factory):
    """Tests without a worker get their own vault and fabric folders.

    Their database work is rolled back, so ids come round again (SQLite reuses them) and a new
    disk or vault would find the files of an earlier test at its path. Tests with a real worker
    share the session's folders with it; their rows are committed, so their ids never repeat.
    """
    if "celery_worker" in request.fixturenames or request.node.get_closest_marker("worker"):
        return
    roots = tmp_path_factory.mktemp("roots")
    settings.VAULT_STORAGE_ROOT = roots / "vaults"
    settings.FABRIC_ROOT = roots / "fabric"
    settings.VAULT_STORAGE_ROOT.mkdir()
    settings.FABRIC_ROOT.mkdir()


def _user(username: str, *subscriptions: Subscription):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    for subscription in subscriptions:
        Membership.objects.create(user=user, subscription=subscription)
    return user


@pytest.fixture
def alpha(db):
    return Subscription.objects.create(name="Alpha")


@pytest.fixture
def beta(db):
    return Subscription.objects.create(name="Beta")


@pytest.fixture
def gamma(db):
    return Subscription.objects.create(name="Gamma")


@pytest.fixture
def alice(alpha, beta):
    return _user("alice", alpha, beta)


@pytest.fixture
def bob(alpha):
    return _user("bob", alpha)


@pytest.fixture
def charlie(gamma):
    return _user("charlie", gamma)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def charlie_client(client, charlie):
    client.force_login(charlie)
    return client


@pytest.fixture
def api_headers():
    def headers(user) -> dict:
        return {"Authorization": f"Bearer {issue_token(user)}"}

    return headers


@pytest.fixture
def list_prices(db):
    """The 2015 list prices that migrate adds. A transactional test flushes every table when it ends, and a
    flush re-runs no data migration, so a test that bills after one re-adds them (the migration's own code)."""
    from django.apps import apps

    importlib.import_module("backup.billing.migrations.0002_list_prices_2015").add_list_prices(apps, None)
