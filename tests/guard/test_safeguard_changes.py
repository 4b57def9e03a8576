"""Turning soft delete off and disabling immutability go through the resource guard (backup.vaults.safeguards
puts them to `critical_change`, which the guard receives), whatever the path; without a guard nothing changes."""

import pytest

from backup.guard.models import ApprovalRequest, GuardedOperation
from backup.guard.services import ApprovalRequired
from backup.vaults import safeguards
from backup.vaults.models import Vault
from tests.factories import make_vault

pytestmark = pytest.mark.django_db


def _last_request() -> ApprovalRequest:
    return ApprovalRequest.objects.order_by("-pk").first()


def test_turning_soft_delete_off_needs_an_approval(alpha, alice, resource_guard, approve):
    vault = make_vault(alpha, name="Guarded")
    with pytest.raises(ApprovalRequired, match="protected by the resource guard"):
        safeguards.disable_soft_delete(vault, alice)
    request = _last_request()
    assert request.operation == GuardedOperation.DISABLE_SOFT_DELETE
    assert Vault.objects.get(pk=vault.pk).soft_delete != Vault.SoftDelete.DISABLED
    approve(request.pk)
    safeguards.configure_soft_delete(vault, state=Vault.SoftDelete.DISABLED, user=alice, approval=request.pk)
    assert Vault.objects.get(pk=vault.pk).soft_delete == Vault.SoftDelete.DISABLED


def test_disabling_immutability_needs_an_approval(alpha, alice, resource_guard, approve):
    vault = make_vault(alpha, name="Guarded")
    safeguards.set_immutability(vault, Vault.Immutability.ENABLED, alice)  # enabling is not guarded
    with pytest.raises(ApprovalRequired):
        safeguards.set_immutability(vault, Vault.Immutability.DISABLED, alice)
    request = _last_request()
    assert request.operation == GuardedOperation.DISABLE_IMMUTABILITY
    approve(request.pk)
    safeguards.set_immutability(vault, Vault.Immutability.DISABLED, alice)  # the approved request is used
    assert Vault.objects.get(pk=vault.pk).immutability == Vault.Immutability.DISABLED


def test_without_a_guard_nothing_is_asked(alpha, alice):
    vault = make_vault(alpha, name="Free")
    safeguards.set_immutability(vault, Vault.Immutability.ENABLED, alice)
    safeguards.set_immutability(vault, Vault.Immutability.DISABLED, alice)
    safeguards.disable_soft_delete(vault, alice)
    assert ApprovalRequest.objects.count() == 0
    assert Vault.objects.get(pk=vault.pk).soft_delete == Vault.SoftDelete.DISABLED
