from datetime import datetime

from ninja import Router, Schema

from backup.vaults.access import get_vault_for_user

from .models import Alert
from .services import incidents

router = Router(tags=["alerts"])


class AlertOut(Schema):
    id: int
    kind: str
    title: str
    severity: str
    state: str
    security: bool
    vault_id: int | None
    item: str
    operation: str
    message: str
    count: int
    job_id: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolution: str
    acknowledged_at: datetime | None


class AcknowledgeIn(Schema):
    alert_ids: list[int]


def alert_out(a: Alert) -> dict:
    return {
        "id": a.pk,
        "kind": a.kind,
        "title": a.get_kind_display(),
        "severity": a.severity,
        "state": a.state,
        "security": a.is_security,
        "vault_id": a.vault_id,
        "item": a.item_name,
        "operation": a.operation,
        "message": a.message,
        "count": a.count,
        "job_id": a.job_id,
        "first_seen_at": a.first_seen_at,
        "last_seen_at": a.last_seen_at,
        "resolved_at": a.resolved_at,
        "resolution": a.resolution,
        "acknowledged_at": a.acknowledged_at,
    }


@router.get("/vaults/{vault_id}/alerts", response=list[AlertOut])
def list_alerts(request, vault_id: int, state: str = "active", limit: int = 100):
    """The vault's alerts, newest first: `state` active (the default), resolved, or all."""
    vault = get_vault_for_user(request.auth, vault_id)
    alerts = Alert.objects.filter(vault=vault)
    if state in (Alert.State.ACTIVE, Alert.State.RESOLVED):
        alerts = alerts.filter(state=state)
    return [alert_out(a) for a in alerts[: max(1, min(limit, 500))]]


@router.post("/vaults/{vault_id}/alerts/acknowledge", response=list[AlertOut])
def acknowledge_alerts(request, vault_id: int, body: AcknowledgeIn):
    """Acknowledge alerts of the vault (ids of other vaults are ignored); a security alert is then resolved."""
    vault = get_vault_for_user(request.auth, vault_id)
    alerts = Alert.objects.filter(vault=vault, pk__in=body.alert_ids[:500])
    return [alert_out(incidents.acknowledge(a, request.auth)) for a in alerts]
