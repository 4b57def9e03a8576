"""The vaults a user may open (backup/tenancy/access.py says how access works)."""

from django.http import Http404

from backup.tenancy.prepared import Prepared

from .models import Vault

# Every vault page, poll and API call starts here: its SQL is built once (backup/tenancy/prepared.py).
_VAULT_OF_USER = Prepared(
    Vault,
    lambda user_id, pk: Vault.objects.filter(subscription__memberships__user=user_id, pk=pk)
    .select_related("subscription")
    .order_by()[:21],
    int,
    int,
)
_BIGINT = range(-(2**63), 2**63)


def get_vault_for_user(user, pk) -> Vault:
    if user.is_authenticated and type(pk) is int and pk in _BIGINT and type(user.pk) is int:
        found = _VAULT_OF_USER(user.pk, pk)
        if len(found) == 1:
            return found[0]
        if not found:
            raise Http404("No such vault.")
    # Any other key (text from a form, a number no column holds), and the impossible case of two rows, go
    # through the ORM, which decides as it always did.
    try:
        return Vault.objects.for_user(user).select_related("subscription").get(pk=pk)
    except (Vault.DoesNotExist, ValueError, TypeError):
        raise Http404("No such vault.") from None
