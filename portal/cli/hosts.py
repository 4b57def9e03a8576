"""`manage.py backup host add|list|sync|remove`: the KVM hosts (libvirt) whose domains become
virtual machines to back up."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from backup.vms.api.inventory import host_out, vm_out
from backup.vms.services import hosts as host_services
from backup.vms.services import inventory

from . import resolve
from .errors import JOB_FAILED, invalid
from .output import table

HOST_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("uri", "uri"),
    ("region", "region"),
    ("pool", "storage_pool"),
    ("status", "status"),
    ("vms", "vm_count"),
    ("last sync", "last_synced_at"),
    ("error", "last_error"),
]
DOMAIN_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("state", "power_state"),
    ("size", "size"),
    ("agent", "agent_state"),
    ("disks", "disk_text"),
    ("backup", "protected_in"),
]


def _host_data(user, host) -> dict:
    return host_out(inventory.hosts_for(user).get(pk=host.pk))


def _disk_text(disk: dict) -> str:
    allocated = f"{disk['allocation'] / (1 << 20):.0f}/" if disk["allocation"] is not None else ""
    return f"{disk['key']} {disk['format'] or '?'} {allocated}{disk['max_size'] / (1 << 20):.0f} MiB"


def _domains_text(user, host) -> str:
    machines = [vm_out(vm) for vm in inventory.machines_for(user).filter(host=host)]
    rows = [vm | {"disk_text": ", ".join(_disk_text(d) for d in vm["disks"])} for vm in machines]
    return table(rows, DOMAIN_COLUMNS)


def host_add(user, options, stderr):
    subscription = resolve.subscription(user, options.get("subscription"))
    try:
        host = host_services.add_host(subscription, options["name"], options["uri"], options["region"], options["pool"])
    except ValidationError as error:
        raise invalid(error) from None
    data = _host_data(user, host)
    return data, f"KVM host '{host.name}' added (id {host.pk}).\n\n{_domains_text(user, host)}"


def host_list(user, options, stderr):
    data = [host_out(h) for h in inventory.hosts_for(user)]
    return data, table(data, HOST_COLUMNS)


def host_sync(user, options, stderr):
    host = resolve.host(user, options["host"])
    result = host_services.sync_host(host)
    if not result.ok:
        raise CommandError(result.error, returncode=JOB_FAILED)
    data = _host_data(user, host) | {"added": result.added, "updated": result.updated, "removed": result.removed}
    return data, f"{host.name}: {result.summary}\n\n{_domains_text(user, host)}"


def host_remove(user, options, stderr):
    host = resolve.host(user, options["host"])
    data = _host_data(user, host)
    try:
        host_services.remove_host(host)
    except ValidationError as error:
        raise CommandError(" ".join(error.messages), returncode=JOB_FAILED) from None
    return data, f"KVM host '{data['name']}' removed, with its {data['vm_count']} virtual machine(s)."
