"""The vaults a user may open (backup/tenancy/access.py says how access works)."""

from django.http import Http404

from .models import Vault


def get_vault_for_user(user, pk) -> Vault:
    try:
        return Vault.objects.for_user(user).select_related("subscription").get(pk=pk)
    except (Vault.DoesNotExist, ValueError, TypeError):
        raise Http404("No such vault.") from None
