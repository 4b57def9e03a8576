"""`manage.py backup item list|point list|backup-now|restore|stop-protection`: a vault's protected
items and their recovery points, and the jobs that back them up, restore from them or stop protecting them."""

from django.core.exceptions import ValidationError

from backup.jobs.errors import Refused
from backup.vms.api.operations import point_out
from backup.vms.services import backup, manage, protection
from backup.vms.services import restore as restores

from . import resolve
from .errors import invalid, refused
from .jobs import started
from .output import table

ITEM_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("cloud service", "cloud_service"),
    ("status", "status_label"),
    ("policy", "policy"),
    ("points", "recovery_points"),
    ("newest point", "newest_recovery_point"),
]
POINT_COLUMNS = [
    ("id", "id"),
    ("vm", "vm_name"),
    ("point", "point_id"),
    ("created", "created_at"),
    ("consistency", "consistency"),
    ("transferred", "bytes_transferred"),
    ("on demand", "on_demand"),
    ("health", "health"),
    ("verified", "verified_at"),
]


def item_list(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    data = protection.protected_item_rows(vault)
    return data, table(data, ITEM_COLUMNS)


def point_list(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    points = vault.recovery_points.order_by("-created_at", "-id")
    if options.get("item"):
        points = points.filter(protected_item=resolve.protected_item(user, options["item"], options["vault"]))
    data = [point_out(p) for p in points]
    return data, table([row | {"health": _health(row)} for row in data], POINT_COLUMNS)


def _health(point: dict) -> str:
    if point["damaged"]:
        return "damaged: " + ", ".join(point["damaged_disks"])
    return {"ok": "verified", "failed": "verify failed"}.get(point["verify_state"], "not verified")


def backup_now(user, options, stderr):
    item = resolve.protected_item(user, options["item"], options.get("vault"))
    try:
        job = backup.back_up_now(item, user)
    except Refused as refusal:
        raise refused(refusal) from None
    return started(job, options, stderr)


def restore(user, options, stderr):
    """RESTORE from a recovery point: a new VM, or (--disks-only) its disks only, as a multi-DC domain
    controller must be restored."""
    point = resolve.recovery_point(user, options["point"])
    keys = ("vm_name", "cloud_service", "storage_account", "virtual_network", "subnet", "disks_only")
    target = {k: options[k] for k in keys if options.get(k) not in (None, "")}
    if options.get("create_cloud_service"):
        target["create_cloud_service"] = True
    if options.get("disk"):
        target["disk_keys"] = options["disk"]
    if options.get("start_vm"):
        target["start_vm"] = True
    if options.get("restore_from") == "secondary":
        target["from_secondary"] = True
    try:
        job = restores.start_restore(point, user=user, **target)
    except Refused as refusal:
        raise refused(refusal) from None
    except ValidationError as error:
        raise invalid(error) from None
    return started(job, options, stderr)


def stop_protection(user, options, stderr):
    item = resolve.protected_item(user, options["item"], options.get("vault"))
    try:
        job = manage.stop_protection(
            item,
            user=user,
            delete_data=options.get("delete_data", False),
            reason=options.get("reason") or "",
            comment=options.get("comment") or "",
            approval=options.get("approval"),
        )
    except Refused as refusal:
        raise refused(refusal) from None
    except ValidationError as error:
        raise invalid(error) from None
    return started(job, options, stderr)
