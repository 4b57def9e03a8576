"""`manage.py backup discover|register|protect` and `item registered`: the vault's Quick Start, one job
per discovery and per machine registered or protected."""

from django.core.exceptions import ValidationError

from backup.vms.services import discovery, policies, protection, registration

from . import resolve
from .errors import invalid
from .jobs import started, started_all
from .output import table

REGISTERED_COLUMNS = [
    ("id", "id"),
    ("vm id", "vm_id"),
    ("name", "name"),
    ("cloud service", "cloud_service"),
    ("status", "status"),
    ("reason", "status_reason"),
    ("registered", "registered_at"),
]


def discover(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    try:
        job = discovery.start_discovery(vault, user)
    except ValidationError as error:
        raise invalid(error) from None
    return started(job, options, stderr)


def registered_list(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    items = vault.registered_items.order_by("vm_name", "cloud_service_name")
    if options.get("status"):
        items = items.filter(status=options["status"])
    data = [
        {
            "id": i.pk,
            "vm_id": i.vm_id,
            "name": i.vm_name,
            "cloud_service": i.cloud_service_name,
            "status": i.status,
            "status_reason": i.status_reason,
            "registered_at": i.registered_at,
        }
        for i in items
    ]
    return data, table(data, REGISTERED_COLUMNS)


def register(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    rows = list(discovery.vms_in_region(vault).values_list("pk", "name", "cloud_service__name"))
    try:
        jobs = registration.start_registration(vault, resolve.vm_ids(options["vms"], rows, "discoverable"), user)
    except ValidationError as error:
        raise invalid(error) from None
    return started_all(jobs, options, stderr)


def protect(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    policies.ensure_default_policy(vault)
    policy = resolve.policy(vault, options["policy"])
    rows = list(vault.registered_items.values_list("vm_id", "vm_name", "cloud_service_name"))
    try:
        jobs = protection.start_protection(vault, resolve.vm_ids(options["vms"], rows, "registered"), policy, user)
    except ValidationError as error:
        raise invalid(error) from None
    return started_all(jobs, options, stderr)
