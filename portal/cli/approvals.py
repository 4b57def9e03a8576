"""The security role's commands: `manage.py backup approval list|approve|reject` (a resource guard's requests;
each requester sees their own too) and `manage.py backup suspicious list|confirm|dismiss` (suspicious points)."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from backup.guard import services
from backup.guard.api import request_out
from backup.vms.api.anomalies import anomaly_out
from backup.vms.services import anomaly

from .errors import JOB_FAILED, invalid
from .output import fields, table

COLUMNS = [
    ("id", "id"),
    ("operation", "operation"),
    ("target", "target_name"),
    ("requested by", "requested_by"),
    ("requested", "requested_at"),
    ("status", "status"),
    ("decided by", "decided_by"),
    ("expires", "expires_at"),
]
FIELDS = [
    "id",
    "operation",
    "target_name",
    "requested_by",
    "requested_at",
    "reason",
    "status",
    "decided_by",
    "decided_at",
    "decision_reason",
    "expires_at",
    "used_at",
]


def approval_list(user, options, stderr):
    rows = [request_out(r) for r in services.requests_for(user).select_related("requested_by", "decided_by")[:200]]
    return rows, table(rows, COLUMNS) if rows else "No approval requests."


def _decide(user, options, approve: bool):
    ref = str(options["request"])
    request = services.requests_for(user).filter(pk=int(ref)).first() if ref.isdigit() else None
    if request is None:
        raise CommandError(services.NO_SUCH_REQUEST.format(id=ref), returncode=JOB_FAILED)
    try:
        request = services.decide(request, user, approve=approve, reason=options.get("reason") or "")
    except ValidationError as error:
        raise invalid(error) from None
    data = request_out(request)
    return data, fields(data, FIELDS)


def approval_approve(user, options, stderr):
    return _decide(user, options, True)


def approval_reject(user, options, stderr):
    return _decide(user, options, False)


SUSPICIOUS_COLUMNS = [
    ("id", "id"),
    ("vm", "vm_name"),
    ("point", "recovery_point_id"),
    ("state", "state"),
    ("changed", "changed_share"),
    ("usual", "usual_changed_share"),
    ("new data", "new_data_ratio"),
    ("detected", "detected_at"),
    ("decided by", "decided_by"),
]


def suspicious_list(user, options, stderr):
    rows = [anomaly_out(a) for a in anomaly.anomalies_for(user).select_related("decided_by")[:500]]
    return rows, table(rows, SUSPICIOUS_COLUMNS) if rows else "No suspicious recovery points."


def _verdict(user, options, confirm: bool):
    ref = str(options["anomaly"])
    found = anomaly.anomalies_for(user).filter(pk=int(ref)).first() if ref.isdigit() else None
    if found is None:
        raise CommandError(f"No suspicious recovery point {ref} (see: suspicious list).", returncode=JOB_FAILED)
    try:
        found = anomaly.decide(found, user, confirm=confirm, reason=options.get("reason") or "")
    except ValidationError as error:
        raise invalid(error) from None
    data = anomaly_out(found)
    return data, data["summary"] + f". {found.get_state_display()} by {data['decided_by']}."


def suspicious_confirm(user, options, stderr):
    return _verdict(user, options, True)


def suspicious_dismiss(user, options, stderr):
    return _verdict(user, options, False)
