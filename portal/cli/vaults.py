"""`manage.py backup vault list|create|show`: the user's backup vaults."""

from django.core.exceptions import ValidationError

from backup.vaults import services as vault_services
from backup.vaults.api import vault_out
from backup.vaults.models import Vault

from . import resolve
from .errors import invalid
from .output import fields, table

VAULT_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("region", "region"),
    ("status", "status"),
    ("redundancy", "redundancy"),
    ("subscription", "subscription_id"),
]


def vault_list(user, options, stderr):
    data = [vault_out(v) for v in Vault.objects.for_user(user).order_by("name", "pk")]
    return data, table(data, VAULT_COLUMNS)


def vault_create(user, options, stderr):
    subscription = resolve.subscription(user, options.get("subscription"))
    try:
        vault = vault_services.create_vault(
            user=user, subscription=subscription, name=options["name"], region=options["region"]
        )
    except ValidationError as error:
        raise invalid(error) from None
    data = vault_out(vault)
    return data, f"Vault '{vault.name}' (id {vault.pk}) is being created in {vault.region}."


def vault_show(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    from portal.ops import store_stats

    stats = store_stats(vault)
    data = vault_out(vault) | {
        "registered_items": vault.registered_items.count(),
        "protected_items": vault.protected_items.exclude(status="stopped").count(),
        "recovery_points": vault.recovery_points.count(),
        "stored_bytes": stats.stored_bytes if stats else None,
        "logical_bytes": stats.logical_bytes if stats else None,
    }
    return data, fields(data, list(data))
