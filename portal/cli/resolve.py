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
from backup.vms.models import BackupPolicy, HypervisorHost, ProtectedItem, RecoveryPoint

NOT_FOUND = 3  # exit code: the thing named does not exist (or is not the user's)
USAGE = 2  # exit code: bad command-line usage, as argparse's own


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
    default = superusers[0]
    # Tenancy applies to superusers too: acting as one who is a member of nothing would print empty lists.
    if not subscriptions_for(default).exists():
        raise CommandError(
            f"The default user '{default.username}' is a member of no subscription, so it sees "
            "nothing: say which user to act as with --user USERNAME.",
            returncode=USAGE,
        )
    return default


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
    """A recovery point by id, or by the name `point list` shows (its POINT column, unique within a vault)."""
    points = RecoveryPoint.objects.for_user(user).select_related("vault__subscription", "protected_item")
    point = points.filter(pk=int(ref)).first() if ref.isdigit() else None
    if point is None:
        named = list(points.filter(point_id=ref)[:2])
        if len(named) > 1:
            raise CommandError(f"Several vaults hold a recovery point named '{ref}': give its id (see: point list).")
        point = named[0] if named else None
    if point is None:
        raise CommandError(f"No recovery point {ref}.", returncode=NOT_FOUND)
    return point


def vm_ids(refs: list[str], rows: list[tuple[int, str, str]], what: str) -> list[int]:
    """Virtual machine ids from ids, names or CLOUD_SERVICE/NAME (two machines may share a name in different
    cloud services). `rows` are the (vm id, name, cloud service) the command may choose from; an id passes
    through for the service to check, as the API's vm_ids do."""
    found = []
    for ref in refs:
        if ref.isdigit():
            found.append(int(ref))
            continue
        service, _, name = ref.rpartition("/")
        matches = [
            vm
            for vm, vm_name, cloud in rows
            if vm is not None and vm_name.lower() == name.lower() and (not service or cloud.lower() == service.lower())
        ]
        if not matches:
            raise CommandError(f"No {what} virtual machine named '{ref}' in this vault.", returncode=NOT_FOUND)
        if len(set(matches)) > 1:
            raise CommandError(f"Several virtual machines are named '{ref}': write CLOUD_SERVICE/{name} or its id.")
        found.append(matches[0])
    return found


def policy(vault_row: Vault, ref: str) -> BackupPolicy:
    """One of the vault's backup policies, by id or name."""
    policies = vault_row.policies.all()
    found = policies.filter(pk=int(ref)).first() if ref.isdigit() else None
    found = found or policies.filter(name__iexact=ref).first()
    if found is None:
        raise CommandError(
            f"No backup policy '{ref}' in the vault '{vault_row.name}' (see: policy list).", returncode=NOT_FOUND
        )
    return found


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
