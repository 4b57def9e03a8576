import pytest

from .helpers import make_vault


@pytest.fixture
def vms_vault(alpha):
    """An Active West US vault of Alpha (alice and bob are members, charlie is not)."""
    return make_vault(alpha, name="Payroll")
