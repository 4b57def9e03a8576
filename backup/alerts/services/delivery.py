"""Sending a Delivery: e-mail through Django's mail system, webhooks as signed JSON; retries with backoff.

Webhook body (README, "Alerts"): {"event": "alert.raised" | "alert.resolved" | "alert.test", "delivery": KEY,
"sent_at": ISO time, "alert": {...}}; headers `X-Backup-Delivery: KEY` (the same for every resend of one
delivery), `X-Backup-Event` and `X-Backup-Signature: t=UNIX,v1=HEX` where HEX is the HMAC-SHA256, keyed with
the target's secret, of "UNIX." followed by the body's bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import Q
from django.utils import timezone

from ..models import SECURITY_KINDS, Alert, AlertTarget, Delivery

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Backup-Signature"
DELIVERY_HEADER = "X-Backup-Delivery"


class SendFailed(Exception):
    def __init__(self, text: str, status_code: int | None = None) -> None:
        super().__init__(text)
        self.status_code = status_code


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _due() -> Q:
    now = timezone.now()
    lost = now - timedelta(seconds=settings.ALERTS_SENDING_TIMEOUT_S)
    return Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Delivery.Status.SENDING, claimed_at__lt=lost
    )


def due_ids(limit: int = 200) -> list[int]:
    return list(Delivery.objects.filter(_due()).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def send(delivery_id: int) -> bool:
    """Send one delivery if it is due and nobody else holds it; True once it is delivered."""
    if not Delivery.objects.filter(Q(pk=delivery_id) & _due()).update(
        status=Delivery.Status.SENDING, claimed_at=timezone.now()
    ):
        return False
    delivery = Delivery.objects.select_related("alert__vault", "alert__subscription", "target").get(pk=delivery_id)
    attempts = delivery.attempts + 1
    try:
        code, response = _send(delivery)
    except SendFailed as failure:
        delays = settings.ALERTS_RETRY_DELAYS_S
        gave_up = attempts > len(delays)
        Delivery.objects.filter(pk=delivery_id).update(
            attempts=attempts,
            last_status_code=failure.status_code,
            last_response=str(failure)[:2000],
            status=Delivery.Status.FAILED if gave_up else Delivery.Status.PENDING,
            next_attempt_at=timezone.now() + timedelta(seconds=0 if gave_up else delays[attempts - 1]),
        )
        log.warning("delivery %s failed (attempt %s): %s", delivery.idempotency_key, attempts, failure)
        return False
    Delivery.objects.filter(pk=delivery_id).update(
        attempts=attempts,
        status=Delivery.Status.DELIVERED,
        delivered_at=timezone.now(),
        last_status_code=code,
        last_response=response[:2000],
    )
    log.info("delivery %s delivered", delivery.idempotency_key)
    return True


def send_test(target: AlertTarget) -> Delivery:
    """The admin's test button: a sample alert to this target, now; the outcome is in the delivery log."""
    delivery = Delivery.objects.create(
        target=target, event=Delivery.Event.TEST, idempotency_key=f"test-{target.pk}-{time.time_ns()}"
    )
    send(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def _send(delivery: Delivery) -> tuple[int | None, str]:
    target = delivery.target
    if target.type == AlertTarget.Type.EMAIL:
        return _send_email(delivery)
    return _send_webhook(delivery)


def payload(delivery: Delivery) -> dict:
    alert = delivery.alert
    return {
        "event": f"alert.{delivery.event}",
        "delivery": delivery.idempotency_key,
        "sent_at": timezone.now().isoformat(),
        "alert": _alert_body(alert) if alert else _sample(delivery),
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _alert_body(alert: Alert) -> dict:
    base = settings.PORTAL_BASE_URL
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "title": alert.get_kind_display(),
        "severity": alert.severity,
        "state": alert.state,
        "security": alert.kind in SECURITY_KINDS,
        "subscription": {"id": alert.subscription_id, "name": alert.subscription.name},
        "vault": {"id": alert.vault_id, "name": alert.vault.name} if alert.vault else None,
        "item": alert.item_name,
        "item_key": alert.item_key,
        "operation": alert.operation,
        "message": alert.message,
        "count": alert.count,
        "first_seen_at": _iso(alert.first_seen_at),
        "last_seen_at": _iso(alert.last_seen_at),
        "resolved_at": _iso(alert.resolved_at),
        "resolution": alert.resolution,
        "job_url": f"{base}{alert.job_url}" if alert.job_id else None,
        "alerts_url": f"{base}/vaults/{alert.vault_id}/alerts/" if alert.vault_id else None,
    }


def _sample(delivery: Delivery) -> dict:
    now = _iso(timezone.now())
    return {
        "id": None,
        "kind": "test",
        "title": "Test alert",
        "severity": "information",
        "state": "active",
        "security": False,
        "subscription": {"id": delivery.target.subscription_id, "name": ""},
        "vault": None,
        "item": "",
        "item_key": "",
        "operation": "",
        "count": 1,
        "first_seen_at": now,
        "last_seen_at": now,
        "resolved_at": None,
        "resolution": "",
        "job_url": None,
        "alerts_url": None,
        "message": f"A test of the alert target '{delivery.target.name}'. No action is needed.",
    }


def _send_webhook(delivery: Delivery) -> tuple[int | None, str]:
    target = delivery.target
    if not target.url.startswith(("http://", "https://")):
        raise SendFailed(f"The webhook address {target.url!r} is not an http(s) address.")
    body = json.dumps(payload(delivery), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "backup-portal-alerts/1",
        DELIVERY_HEADER: delivery.idempotency_key,
        "X-Backup-Event": f"alert.{delivery.event}",
        SIGNATURE_HEADER: sign(target.secret, int(time.time()), body),
    }
    request = urllib.request.Request(target.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.ALERTS_WEBHOOK_TIMEOUT_S) as response:  # noqa: S310
            return response.status, response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as error:
        raise SendFailed(f"HTTP {error.code}: {error.read(500).decode(errors='replace')}", error.code) from None
    except urllib.error.URLError as error:
        reason = error.reason
        text = f"{type(reason).__name__}: {reason}" if isinstance(reason, Exception) else str(reason)
        raise SendFailed(text) from None
    except (OSError, ValueError) as error:
        raise SendFailed(f"{type(error).__name__}: {error}") from None


def _send_email(delivery: Delivery) -> tuple[int | None, str]:
    target = delivery.target
    if not target.addresses:
        raise SendFailed("The e-mail target names no address.")
    body = payload(delivery)["alert"]
    subject = f"[{body['severity'].capitalize()}] {body['title']}"
    if delivery.event == Delivery.Event.RESOLVED:
        subject = f"Resolved: {subject}"
    if body["item"]:
        subject += f": {body['item']}"
    lines = [
        body["message"],
        "",
        *(
            f"{label}: {value}"
            for label, value in (
                ("Vault", (body["vault"] or {}).get("name")),
                ("Item", body["item"]),
                ("Operation", body["operation"]),
                ("Occurrences", body["count"]),
                ("First seen", body["first_seen_at"]),
                ("Last seen", body["last_seen_at"]),
                ("Resolved", body["resolved_at"]),
                ("Resolution", body["resolution"]),
                ("Job", body["job_url"]),
                ("Alerts", body["alerts_url"]),
            )
            if value
        ),
    ]
    message = EmailMessage(
        subject,
        "\n".join(lines),
        settings.DEFAULT_FROM_EMAIL,
        target.addresses,
        headers={
            "Message-ID": f"<{delivery.idempotency_key}@backup-portal>",
            DELIVERY_HEADER: delivery.idempotency_key,
        },
    )
    try:
        sent = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT).send_messages([message])
    except (OSError, ValueError) as error:
        raise SendFailed(f"{type(error).__name__}: {error}") from None
    if not sent:
        raise SendFailed("The mail server accepted no message.")
    return None, f"Sent to {', '.join(target.addresses)}."
