"""Raising, repeating, resolving and acknowledging alerts: one open incident per cause and item."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import SECURITY_KINDS, SEVERITY_OF, Alert, AlertRule, AlertTarget, Delivery

log = logging.getLogger(__name__)


def raise_alert(
    *,
    subscription_id: int,
    vault_id: int | None,
    kind: str,
    item_key: str,
    item_name: str = "",
    message: str = "",
    operation: str = "",
    job_id: int | None = None,
    repeat: bool = True,
    at: datetime | None = None,
) -> Alert:
    """Open the incident of this cause and item, or update the open one (count and last seen, when `repeat`:
    a check that finds the same state again every minute does not count it again). Only a new incident is
    delivered; its deliveries are written in the same transaction."""
    now = at or timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                alert = (
                    Alert.objects.select_for_update()
                    .filter(subscription_id=subscription_id, kind=kind, item_key=item_key, state=Alert.State.ACTIVE)
                    .first()
                )
                if alert is not None:
                    if repeat:
                        Alert.objects.filter(pk=alert.pk).update(
                            count=alert.count + 1,
                            last_seen_at=now,
                            message=message or alert.message,
                            job_id=job_id or alert.job_id,
                            acknowledged_at=None,
                            acknowledged_by=None,
                        )
                        alert.refresh_from_db()
                    return alert
                alert = Alert.objects.create(
                    subscription_id=subscription_id,
                    vault_id=vault_id,
                    kind=kind,
                    severity=SEVERITY_OF[kind],
                    item_key=item_key,
                    item_name=item_name[:200],
                    message=message,
                    operation=operation,
                    job_id=job_id,
                    first_seen_at=now,
                    last_seen_at=now,
                )
                plan_deliveries(alert, Delivery.Event.RAISED)
                log.info("alert %s raised: %s %s", alert.pk, kind, item_key)
                return alert
        except IntegrityError:
            continue  # another process opened it meanwhile: update that one
    raise RuntimeError(f"could not record the alert {kind} {item_key}")


def resolve(*, kind: str, item_key: str, resolution: str, subscription_id: int | None = None) -> int:
    """Close the open incident of this cause and item, if any; its targets hear of it."""
    alerts = Alert.objects.filter(kind=kind, item_key=item_key, state=Alert.State.ACTIVE)
    if subscription_id is not None:
        alerts = alerts.filter(subscription_id=subscription_id)
    return sum(_close(alert, resolution) for alert in alerts)


def _close(alert: Alert, resolution: str) -> int:
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert.pk, state=Alert.State.ACTIVE).update(
            state=Alert.State.RESOLVED, resolved_at=timezone.now(), resolution=resolution
        ):
            return 0
        alert.refresh_from_db()
        plan_deliveries(alert, Delivery.Event.RESOLVED)
    log.info("alert %s resolved: %s", alert.pk, resolution)
    return 1


def acknowledge(alert: Alert, user) -> Alert:
    """The user has seen it. A security event has no cause that could go away, so acknowledging closes it."""
    Alert.objects.filter(pk=alert.pk).update(acknowledged_at=timezone.now(), acknowledged_by=user)
    if alert.kind in SECURITY_KINDS and alert.state == Alert.State.ACTIVE:
        _close(alert, f"Acknowledged by {user.get_username()}.")
    alert.refresh_from_db()
    return alert


def targets_for(alert: Alert) -> list[AlertTarget]:
    """The targets of the rules that match the alert, all of the alert's own subscription."""
    found: dict[int, AlertTarget] = {}
    rules = AlertRule.objects.filter(subscription_id=alert.subscription_id).prefetch_related("vaults", "targets")
    for rule in rules:
        if alert.kind not in SECURITY_KINDS and not _matches(rule, alert):
            continue
        for target in rule.targets.all():
            if target.subscription_id == alert.subscription_id:
                found[target.pk] = target
    return list(found.values())


def _matches(rule: AlertRule, alert: Alert) -> bool:
    vault_ids = {v.pk for v in rule.vaults.all()}
    return (
        rule.enabled
        and (not rule.severities or alert.severity in rule.severities)
        and (not rule.kinds or alert.kind in rule.kinds)
        and (not vault_ids or alert.vault_id in vault_ids)
    )


def plan_deliveries(alert: Alert, event: str) -> list[Delivery]:
    """One Delivery per target, keyed so that the same event of the same alert is never planned twice; sent at
    once after the commit, and by the beat task if that message is lost."""
    planned = []
    for target in targets_for(alert):
        delivery, created = Delivery.objects.get_or_create(
            idempotency_key=f"alert-{alert.pk}-{event}-target-{target.pk}",
            defaults={"alert": alert, "target": target, "event": event},
        )
        if created:
            planned.append(delivery)
    if planned:
        ids = [d.pk for d in planned]
        transaction.on_commit(lambda: _send_soon(ids))
    return planned


def _send_soon(delivery_ids: list[int]) -> None:
    from ..tasks import deliver_alert

    for delivery_id in delivery_ids:
        try:
            deliver_alert.delay(delivery_id)
        except Exception as exc:  # the broker is away: the beat task sends it once it is back
            log.warning("delivery %s not queued (%s); the deliver-due-alerts task will send it", delivery_id, exc)
            return
