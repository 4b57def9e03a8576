import pytest

from backup.vaults.models import Vault
from tests.factories import make_protected_item
from tests.vms.restore_helpers import back_up, clean_fabric  # noqa: F401  (autouse)


@pytest.fixture
def item(alpha):
    return make_protected_item(alpha, os_mib=1, data_mib=0.5)


@pytest.fixture
def backed_up(item, alice):
    """A protected item with one recovery point."""
    back_up(item, alice)
    return item


def immutability(vault, state: str) -> Vault:
    Vault.objects.filter(pk=vault.pk).update(immutability=state)
    vault.refresh_from_db()
    return vault
