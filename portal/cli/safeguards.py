"""The CLI's safeguard commands: `undelete`, `vault soft-delete`, `vault immutability` (same services as the
portal's CONFIGURE page and the API)."""

from django.core.exceptions import ValidationError

from backup.jobs.errors import Refused
from backup.vaults import safeguards
from backup.vaults.api import vault_out
from backup.vms.services import manage

from . import resolve
from .errors import invalid, refused
from .output import fields


def _run(call):
    try:
        return call()
    except Refused as refusal:
        raise refused(refusal) from None
    except ValidationError as error:
        raise invalid(error) from None


def undelete(user, options, stderr):
    item = resolve.protected_item(user, options["item"], options.get("vault"))
    item = _run(lambda: manage.undelete(item, user=user))
    data = {"id": item.pk, "name": item.vm_name, "status": item.status, "status_label": item.status_label}
    return data, fields(data, list(data))


def vault_soft_delete(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    vault = _run(
        lambda: safeguards.configure_soft_delete(
            vault, state=options.get("state"), days=options.get("days"), user=user, approval=options.get("approval")
        )
    )
    data = vault_out(vault)
    return data, fields(data, ["id", "name", "soft_delete", "soft_delete_days", "immutability"])


def vault_immutability(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    vault = _run(
        lambda: safeguards.set_immutability(vault, options["state"], user=user, approval=options.get("approval"))
    )
    data = vault_out(vault)
    return data, fields(data, ["id", "name", "soft_delete", "soft_delete_days", "immutability"])
