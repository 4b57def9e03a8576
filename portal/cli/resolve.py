"""Command-line names to rows, through the same tenancy helpers as the portal: a user sees only the
vaults, items and jobs of their subscriptions; anything else is "not found"."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.http import Http404

from backup.jobs.access import get_job_for_user
from backup.jobs.models import Job
from backup.tenancy.access import subscriptions_for
from backup.vaults.access import get_vault_for_user
from backup.vaults.models import Vault
from backup.vms.models import HypervisorHost, ProtectedItem, RecoveryPoint

NOT_FOUND = 3  # exit code: the thing named does not exist (or is not the user's)


def acting_user(username: str | None):
    """--user, or else the only superuser; the CLI never acts as nobody."""
    users = get_user_model().objects.filter(is_active=True)
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(f"No active user named '{username}'.", returncode=NOT_FOUND)
        return user
    superusers = list(users.filter(is_superuser=True)[:2])
    if len(superusers) != 1:
        raise CommandError("Say which user to act as with --user USERNAME (tenancy applies to the CLI).")
    return superusers[0]


def vault(user, ref: str) -> Vault:
    """A vault by id or by name (names are unique within a subscription)."""
    if ref.isdigit():
        try:
            return get_vault_for_user(user, int(ref))
        except Http404:
            raise CommandError(f"No vault {ref}.", returncode=NOT_FOUND) from None
    matches = list(Vault.objects.for_user(user).filter(name__iexact=ref).select_related("subscription")[:2])
    if not matches:
        raise CommandError(f"No vault named '{ref}'.", returncode=NOT_FOUND)
    if len(matches) > 1:
        raise CommandError(f"Several vaults are named '{ref}' (in different subscriptions): give its id.")
    return matches[0]


def subscription(user, ref: str | None):
    subscriptions = subscriptions_for(user)
    if ref is None:
        only = list(subscriptions[:2])
        if len(only) != 1:
            raise CommandError("Say which subscription with --subscription (id or name).")
        return only[0]
    found = subscriptions.filter(pk=int(ref)) if ref.isdigit() else subscriptions.filter(name__iexact=ref)
    result = list(found[:2])
    if len(result) != 1:
        raise CommandError(f"No subscription '{ref}' (or several of that name).", returncode=NOT_FOUND)
    return result[0]


def protected_item(user, ref: str, vault_ref: str | None = None) -> ProtectedItem:
    """A protected item by id, or by VM name within --vault."""
    items = ProtectedItem.objects.for_user(user).select_related("vault__subscription", "policy")
    if ref.isdigit():
        item = items.filter(pk=int(ref)).first()
    elif vault_ref is not None:
        item = items.filter(vault=vault(user, vault_ref), vm_name__iexact=ref).first()
    else:
        raise CommandError("Name the item by its id, or give --vault with the virtual machine's name.")
    if item is None:
        raise CommandError(f"No protected item '{ref}'.", returncode=NOT_FOUND)
    return item


def recovery_point(user, ref: str) -> RecoveryPoint:
    point = None
    if ref.isdigit():
        point = RecoveryPoint.objects.for_user(user).filter(pk=int(ref)).select_related(
            "vault__subscription", "protected_item").first()
    if point is None:
        raise CommandError(f"No recovery point {ref}.", returncode=NOT_FOUND)
    return point


def job(user, ref: str) -> Job:
    try:
        return get_job_for_user(user, int(ref))
    except (Http404, ValueError):
        raise CommandError(f"No job {ref}.", returncode=NOT_FOUND) from None


def host(user, ref: str) -> HypervisorHost:
    """A KVM host by name (host names are unique) or id."""
    hosts = HypervisorHost.objects.for_user(user)
    found = hosts.filter(pk=int(ref)).first() if ref.isdigit() else None
    found = found or hosts.filter(name__iexact=ref).first()
    if found is None:
        raise CommandError(f"No KVM host '{ref}'.", returncode=NOT_FOUND)
    return found
