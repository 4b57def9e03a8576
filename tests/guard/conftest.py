import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from backup.guard import services as guard
from backup.guard.models import ResourceGuard
from tests.factories import make_policy, make_protected_item


@pytest.fixture
def security(db):
    return Group.objects.create(name="Security")


@pytest.fixture
def sue(security):
    """Holds the security role of Alpha's guard; not a member of Alpha."""
    user = get_user_model().objects.create_user(username="sue")
    user.groups.add(security)
    return user


@pytest.fixture
def resource_guard(alpha, security):
    return ResourceGuard.objects.create(subscription=alpha, name="alpha-guard", security_group=security)


@pytest.fixture
def item(alpha, alice, resource_guard):
    return make_protected_item(alpha, os_mib=0.25, data_mib=0.25)


@pytest.fixture
def policy(item):
    return make_policy(item.vault, daily_retention_days=30)


@pytest.fixture
def approve(sue):
    def approve(request_id: int):
        from backup.guard.models import ApprovalRequest

        return guard.decide(ApprovalRequest.objects.get(pk=request_id), sue, approve=True, reason="ticket 42")

    return approve
