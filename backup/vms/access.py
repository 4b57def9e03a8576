"""The vms app's objects a user may open (backup/tenancy/access.py says how access works): items and
recovery points by their own id, and a vault's policy once the vault was found for the user."""

from django.http import Http404

from backup.vaults.models import Vault

from .models import BackupPolicy, ProtectedItem, RecoveryPoint, RegisteredItem


def get_protected_item_for_user(user, pk) -> ProtectedItem:
    try:
        return ProtectedItem.objects.for_user(user).select_related("vault__subscription").get(pk=pk)
    except (ProtectedItem.DoesNotExist, ValueError, TypeError):
        raise Http404("No such protected item.") from None


def get_registered_item_for_user(user, pk) -> RegisteredItem:
    try:
        return RegisteredItem.objects.for_user(user).select_related("vault__subscription", "vm").get(pk=pk)
    except (RegisteredItem.DoesNotExist, ValueError, TypeError):
        raise Http404("No such registered item.") from None


def get_recovery_point_for_user(user, pk) -> RecoveryPoint:
    try:
        return RecoveryPoint.objects.for_user(user).select_related("vault__subscription").get(pk=pk)
    except (RecoveryPoint.DoesNotExist, ValueError, TypeError):
        raise Http404("No such recovery point.") from None


def get_policy(vault: Vault, pk) -> BackupPolicy:
    """A policy of this vault (the vault was already checked for the user), or 404."""
    try:
        return vault.policies.get(pk=pk)
    except (BackupPolicy.DoesNotExist, ValueError, TypeError):
        raise Http404("No such policy.") from None
