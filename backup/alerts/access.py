"""The alerts a user may see and acknowledge: those of the vaults they may open (backup/tenancy/access.py)."""

from django.http import Http404

from backup.vaults.access import get_vault_for_user

from .models import Alert


def get_vault_alert_for_user(user, vault_pk, alert_pk) -> Alert:
    vault = get_vault_for_user(user, vault_pk)
    try:
        return Alert.objects.get(vault=vault, pk=alert_pk)
    except (Alert.DoesNotExist, ValueError, TypeError):
        raise Http404("No such alert.") from None
