"""One function per subcommand of `manage.py backup`. Each gets the acting user and the parsed options
and returns (data, text): `data` is what --json prints (the API's shapes), `text` the human view."""

import time

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from backup.jobs import services as jobs
from backup.jobs.api import job_out
from backup.jobs.errors import Refused
from backup.jobs.models import ACTIVE_STATUSES, Job, JobStatus
from backup.vaults import services as vaults
from backup.vaults.api import vault_out
from backup.vaults.models import Vault
from backup.vms.api.inventory import host_out, vm_out
from backup.vms.api.operations import point_out
from backup.vms.services import (
    backup,
    discovery,
    hosts,
    inventory,
    manage,
    operations,
    policies,
    protection,
    registration,
)
from backup.vms.services import restore as restores

from . import resolve
from .output import fields, progress_bar, table

JOB_FAILED = 1  # exit code: the job (or the request to start it) failed, or the input was refused

VAULT_COLUMNS = [("id", "id"), ("name", "name"), ("region", "region"), ("status", "status"),
                 ("redundancy", "redundancy"), ("subscription", "subscription_id")]
ITEM_COLUMNS = [("id", "id"), ("name", "name"), ("cloud service", "cloud_service"), ("status", "status_label"),
                ("policy", "policy"), ("points", "recovery_points"), ("newest point", "newest_recovery_point")]
POINT_COLUMNS = [("id", "id"), ("vm", "vm_name"), ("point", "point_id"), ("created", "created_at"),
                 ("consistency", "consistency"), ("transferred", "bytes_transferred"), ("on demand", "on_demand"),
                 ("health", "health"), ("verified", "verified_at")]
JOB_COLUMNS = [("id", "id"), ("operation", "operation"), ("item", "item_name"), ("status", "status"),
               ("started", "started_at"), ("duration s", "duration"), ("%", "progress_percent"),
               ("error", "error_code")]
HOST_COLUMNS = [("id", "id"), ("name", "name"), ("uri", "uri"), ("region", "region"), ("pool", "storage_pool"),
                ("status", "status"), ("vms", "vm_count"), ("last sync", "last_synced_at"), ("error", "last_error")]
DOMAIN_COLUMNS = [("id", "id"), ("name", "name"), ("state", "power_state"), ("size", "size"), ("agent", "agent_state"),
                  ("disks", "disk_text"), ("backup", "protected_in")]
REGISTERED_COLUMNS = [("id", "id"), ("vm id", "vm_id"), ("name", "name"), ("cloud service", "cloud_service"),
                      ("status", "status"), ("reason", "status_reason"), ("registered", "registered_at")]
JOB_FIELDS = ["id", "operation", "item_name", "vault_id", "status", "started_at", "ended_at", "duration_s",
              "progress_percent", "bytes_done", "bytes_total", "error_code", "error_message",
              "recommended_action", "cancellable", "result"]


def _job_rows(items: list[dict]) -> list[dict]:
    return [row | {"duration": round(row["duration_s"])} for row in items]


def job_detail(job: Job) -> dict:
    subtasks = [{"name": s.name, "status": s.status, "started_at": s.started_at, "ended_at": s.ended_at}
                for s in job.subtasks.all()]
    return job_out(job) | {"subtasks": subtasks}


def _job_text(data: dict) -> str:
    steps = table(data["subtasks"], [("sub-task", "name"), ("status", "status"), ("started", "started_at"),
                                     ("ended", "ended_at")]) if data.get("subtasks") else ""
    return fields(data, JOB_FIELDS) + (f"\n\n{steps}" if steps else "")


def _started(job: Job, options, stderr):
    """A command that started a job: refused at once (another operation holds the item) is a failure;
    with --wait, follow it to its end."""
    if options.get("wait") and job.is_active:
        return wait_job(job, options, stderr)
    data = job_out(job)
    if job.status == JobStatus.FAILED:
        raise CommandError(f"Job {job.pk} failed: {job.error_message}", returncode=JOB_FAILED)
    return data, f"Job {job.pk} started: {job.get_operation_display()} '{job.item_name}'. " \
                 f"Follow it with: manage.py backup job wait {job.pk}"


def _started_all(started: list[Job], options, stderr):
    """Commands that start one job per machine (register, protect): --wait follows each; any that does not
    complete makes the command fail, after all were followed."""
    if not options.get("wait"):
        data = [job_out(j) for j in started]
        lines = [f"Job {j.pk} started: {j.get_operation_display()} '{j.item_name}'." if j.status != JobStatus.FAILED
                 else f"Job {j.pk} failed: {j.get_operation_display()} '{j.item_name}': {j.error_message}"
                 for j in started]
        if any(j.status == JobStatus.FAILED for j in started):
            raise CommandError("\n".join(lines), returncode=JOB_FAILED)
        return data, "\n".join(lines + ["Follow them with: manage.py backup job wait ID"])
    data, texts, failures = [], [], []
    for job in started:
        try:
            detail, text = wait_job(job, options, stderr)
        except CommandError as error:
            if error.returncode != JOB_FAILED:
                raise
            failures.append(str(error))
            continue
        data.append(detail)
        texts.append(text)
    if failures:
        raise CommandError("\n".join(failures), returncode=JOB_FAILED)
    return data, "\n\n".join(texts)


def _invalid(error: ValidationError) -> CommandError:
    """Field errors as `field: message`, like the API's 400 answers."""
    errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    return CommandError("; ".join(f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs)
                                  for field, msgs in errors.items()))


def _refused(refusal: Refused) -> CommandError:
    return CommandError(refusal.message + (f" {refusal.action}" if refusal.action else ""), returncode=JOB_FAILED)


# -- Vaults ---------------------------------------------------------------------------------------
def vault_list(user, options, stderr):
    data = [vault_out(v) for v in Vault.objects.for_user(user).order_by("name", "pk")]
    return data, table(data, VAULT_COLUMNS)


def vault_create(user, options, stderr):
    subscription = resolve.subscription(user, options.get("subscription"))
    try:
        vault = vaults.create_vault(user=user, subscription=subscription, name=options["name"],
                                    region=options["region"])
    except ValidationError as error:
        raise _invalid(error) from None
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


# -- Discover, register, protect (the vault's Quick Start) ----------------------------------------------
def discover(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    try:
        job = discovery.start_discovery(vault, user)
    except ValidationError as error:
        raise _invalid(error) from None
    return _started(job, options, stderr)


def registered_list(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    items = vault.registered_items.order_by("vm_name", "cloud_service_name")
    if options.get("status"):
        items = items.filter(status=options["status"])
    data = [{"id": i.pk, "vm_id": i.vm_id, "name": i.vm_name, "cloud_service": i.cloud_service_name,
             "status": i.status, "status_reason": i.status_reason, "registered_at": i.registered_at}
            for i in items]
    return data, table(data, REGISTERED_COLUMNS)


def register(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    rows = list(discovery.vms_in_region(vault).values_list("pk", "name", "cloud_service__name"))
    try:
        started = registration.start_registration(vault, resolve.vm_ids(options["vms"], rows, "discoverable"), user)
    except ValidationError as error:
        raise _invalid(error) from None
    return _started_all(started, options, stderr)


def protect(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    policies.ensure_default_policy(vault)
    policy = resolve.policy(vault, options["policy"])
    rows = list(vault.registered_items.values_list("vm_id", "vm_name", "cloud_service_name"))
    try:
        started = protection.start_protection(vault, resolve.vm_ids(options["vms"], rows, "registered"), policy,
                                              user)
    except ValidationError as error:
        raise _invalid(error) from None
    return _started_all(started, options, stderr)


# -- Items and recovery points ----------------------------------------------------------------------
def item_list(user, options, stderr):
    vault = resolve.vault(user, options["vault"])
    data = [
        {"id": p.pk, "vm_id": p.vm_id, "name": p.vm_name, "cloud_service": p.cloud_service_name,
         "policy_id": p.policy_id, "policy": p.policy.name if p.policy else None, "status": p.status,
         "status_label": p.status_label, "purge_at": p.purge_at,
         "recovery_points": p.point_count, "newest_recovery_point": p.newest_point}
        for p in protection.protected_items(vault)
    ]
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
        raise _refused(refusal) from None
    return _started(job, options, stderr)


# -- Jobs -----------------------------------------------------------------------------------------
def job_list(user, options, stderr):
    found = Job.objects.for_user(user).defer("params").order_by("-started_at", "-id")
    if options.get("vault"):
        found = found.filter(vault_id=resolve.vault(user, options["vault"]).pk)
    status = options.get("status")
    if status == JobStatus.IN_PROGRESS:
        found = found.filter(status__in=ACTIVE_STATUSES)
    elif status:
        found = found.filter(status=status)
    if options.get("operation"):
        found = found.filter(operation=options["operation"])
    data = [job_out(j) for j in found[: options["limit"]]]
    return data, table(_job_rows(data), JOB_COLUMNS)


def job_show(user, options, stderr):
    data = job_detail(resolve.job(user, options["job"]))
    return data, _job_text(data)


def job_cancel(user, options, stderr):
    try:
        job = jobs.request_cancel(resolve.job(user, options["job"]))
    except Refused as refusal:
        raise _refused(refusal) from None
    return job_out(job), f"Job {job.pk}: {job.get_status_display()}."


def job_retry(user, options, stderr):
    try:
        job = jobs.retry(resolve.job(user, options["job"]), user)
    except Refused as refusal:
        raise _refused(refusal) from None
    return _started(job, options, stderr)


def job_wait(user, options, stderr):
    return wait_job(resolve.job(user, options["job"]), options, stderr)


def wait_job(job: Job, options, stderr):
    """Poll the job's row until it ends, drawing a progress bar on stderr; a job that does not complete
    (failed, cancelled, or still running at --timeout) exits non-zero with its reason."""
    deadline = time.monotonic() + options.get("timeout", 3600)
    interval = options.get("interval", 0.5)
    quiet = options.get("quiet", False)
    while True:
        job.refresh_from_db()
        if not quiet:
            step = job.subtasks.exclude(status=JobStatus.COMPLETED).order_by("-position").first()
            stderr.write(f"\rJob {job.pk} {progress_bar(job.progress_percent)} {job.get_status_display():<12} "
                         f"{step.name if step and job.is_active else ''}".ljust(100), ending="")
            stderr.flush()
        if not job.is_active:
            break
        if time.monotonic() >= deadline:
            stderr.write("")
            raise CommandError(f"Job {job.pk} is still {job.get_status_display().lower()} after the time-out.",
                               returncode=JOB_FAILED)
        time.sleep(interval)
    if not quiet:
        stderr.write("")
    data = job_detail(job)
    if job.status != JobStatus.COMPLETED:
        reason = f" - {job.error_message}" if job.error_message else ""
        action = f"\nRecommended action: {job.recommended_action}" if job.recommended_action else ""
        raise CommandError(f"Job {job.pk} {job.get_status_display().lower()}{reason}{action}", returncode=JOB_FAILED)
    return data, _job_text(data)


# -- Operators' operations ------------------------------------------------------------------------
def verify(user, options, stderr):
    try:
        if options.get("point") and options.get("due"):
            raise CommandError("--due chooses points of a vault: use it with --vault, not --point.")
        if options.get("point"):
            point = resolve.recovery_point(user, options["point"])
            job = operations.start_verify(point.vault, user=user, point=point)
        elif options.get("vault") and options.get("due"):
            job = operations.start_due_verify(resolve.vault(user, options["vault"]), options["due"], user=user)
        elif options.get("vault"):
            job = operations.start_verify(resolve.vault(user, options["vault"]), user=user)
        else:
            raise CommandError("Say what to verify: --vault VAULT or --point RECOVERY_POINT_ID.")
    except Refused as refusal:
        raise _refused(refusal) from None
    return _started(job, options, stderr)


def gc(user, options, stderr):
    try:
        job = operations.start_gc_now(resolve.vault(user, options["vault"]), user=user)
    except Refused as refusal:
        raise _refused(refusal) from None
    return _started(job, options, stderr)


# -- Restore and stop protection ------------------------------------------------------------------
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
    try:
        job = restores.start_restore(point, user=user, **target)
    except Refused as refusal:
        raise _refused(refusal) from None
    except ValidationError as error:
        raise _invalid(error) from None
    return _started(job, options, stderr)


def stop_protection(user, options, stderr):
    item = resolve.protected_item(user, options["item"], options.get("vault"))
    try:
        job = manage.stop_protection(item, user=user, delete_data=options.get("delete_data", False),
                                     reason=options.get("reason") or "", comment=options.get("comment") or "",
                                     approval=options.get("approval"))
    except Refused as refusal:
        raise _refused(refusal) from None
    except ValidationError as error:
        raise _invalid(error) from None
    return _started(job, options, stderr)


# -- KVM hosts --------------------------------------------------------------------------------------------------
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
        host = hosts.add_host(subscription, options["name"], options["uri"], options["region"], options["pool"])
    except ValidationError as error:
        raise _invalid(error) from None
    data = _host_data(user, host)
    return data, f"KVM host '{host.name}' added (id {host.pk}).\n\n{_domains_text(user, host)}"


def host_list(user, options, stderr):
    data = [host_out(h) for h in inventory.hosts_for(user)]
    return data, table(data, HOST_COLUMNS)


def host_sync(user, options, stderr):
    host = resolve.host(user, options["host"])
    result = hosts.sync_host(host)
    if not result.ok:
        raise CommandError(result.error, returncode=JOB_FAILED)
    data = _host_data(user, host) | {"added": result.added, "updated": result.updated, "removed": result.removed}
    return data, f"{host.name}: {result.summary}\n\n{_domains_text(user, host)}"


def host_remove(user, options, stderr):
    host = resolve.host(user, options["host"])
    data = _host_data(user, host)
    try:
        hosts.remove_host(host)
    except ValidationError as error:
        raise CommandError(" ".join(error.messages), returncode=JOB_FAILED) from None
    return data, f"KVM host '{data['name']}' removed, with its {data['vm_count']} virtual machine(s)."
