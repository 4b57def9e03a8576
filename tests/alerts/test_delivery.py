"""Delivery to real servers on loopback: an aiosmtpd SMTP server receives the mail through Django's SMTP backend,
an HTTP receiver checks the webhook's signature; retries with backoff; claimed once; secrets write-only."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backup.alerts.admin import AlertTargetForm
from backup.alerts.models import AlertRule, AlertTarget, Delivery, Kind
from backup.alerts.services import delivery, incidents
from tests.factories import make_vault

from .conftest import SECRET, make_targets

pytestmark = pytest.mark.django_db


def _raise(subscription, vault, kind=Kind.BACKUP_FAILED):
    return incidents.raise_alert(subscription_id=subscription.pk, vault_id=vault.pk, kind=kind, item_key="vm:42",
                                 item_name="web-01", operation="Backup", job_id=4242,
                                 message="The backup failed: the guest agent is missing.")


def test_an_alert_reaches_the_smtp_server_and_the_webhook_signed(alpha, mail_to, webhook, settings):
    settings.PORTAL_BASE_URL = "https://backup.example.com"
    vault = make_vault(alpha, name="prod-vault")
    make_targets(alpha, webhook.url, emails="ops@example.com, oncall@example.com")
    alert = _raise(alpha, vault)
    assert sorted(delivery.send(pk) for pk in delivery.due_ids()) == [True, True]

    [mail] = mail_to.messages
    assert mail["Subject"] == "[Critical] Backup failure: web-01"
    assert mail["To"] == "ops@example.com, oncall@example.com"
    key = mail["X-Backup-Delivery"]
    assert mail["Message-ID"] == f"<{key}@backup-portal>"
    text = mail.get_payload()
    assert "The backup failed: the guest agent is missing." in text and "Vault: prod-vault" in text
    assert "Job: https://backup.example.com/jobs/4242/" in text

    [hook] = webhook.requests
    assert hook["valid"], "the signature must verify with the target's secret"
    body = hook["json"]
    assert body["event"] == "alert.raised" and body["delivery"] == hook["headers"]["X-Backup-Delivery"]
    assert {k: body["alert"][k] for k in ("id", "kind", "severity", "state", "item", "count", "security")} == {
        "id": alert.pk, "kind": "backup_failed", "severity": "critical", "state": "active", "item": "web-01",
        "count": 1, "security": False}
    assert body["alert"]["vault"] == {"id": vault.pk, "name": "prod-vault"}
    assert body["alert"]["job_url"] == "https://backup.example.com/jobs/4242/"
    # A tampered body or another secret does not verify.
    assert not webhook.valid(hook["headers"]["X-Backup-Signature"], hook["body"] + b" ")
    assert delivery.sign("another-secret", 1, hook["body"]) != hook["headers"]["X-Backup-Signature"]

    # Delivered once: nothing is due any more, and sending a delivered row again does nothing.
    assert delivery.due_ids() == []
    assert not any(delivery.send(d.pk) for d in Delivery.objects.all())
    assert len(webhook.requests) == 1 and len(mail_to.messages) == 1
    assert set(Delivery.objects.values_list("status", "attempts")) == {("delivered", 1)}
    assert Delivery.objects.get(target__type="webhook").last_status_code == 200


def test_a_webhook_that_fails_is_retried_with_backoff_then_delivered(alpha, webhook, settings):
    settings.ALERTS_RETRY_DELAYS_S = [30, 120]
    webhook.statuses = [500, 503]
    vault = make_vault(alpha)
    target = AlertTarget.objects.create(subscription=alpha, name="h", type="webhook", url=webhook.url, secret=SECRET)
    AlertRule.objects.create(subscription=alpha, name="r").targets.set([target])
    _raise(alpha, vault)
    [row] = Delivery.objects.all()
    before = timezone.now()
    assert delivery.send(row.pk) is False
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert "try later" in row.last_response
    assert before + timedelta(seconds=29) < row.next_attempt_at < before + timedelta(seconds=40)
    assert delivery.due_ids() == []  # not yet due
    Delivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert delivery.send(row.pk) is False
    row.refresh_from_db()
    assert row.attempts == 2 and row.next_attempt_at > timezone.now() + timedelta(seconds=100)
    Delivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert delivery.send(row.pk) is True
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 200)
    # One idempotency key for the three attempts, so a receiver can tell a resend from a new event.
    assert {r["headers"]["X-Backup-Delivery"] for r in webhook.requests} == {row.idempotency_key}
    assert all(r["valid"] for r in webhook.requests)


def test_a_delivery_gives_up_after_its_last_retry(alpha, settings):
    settings.ALERTS_RETRY_DELAYS_S = [1]
    vault = make_vault(alpha)
    make_targets(alpha, "http://127.0.0.1:9/nothing-listens-here")
    _raise(alpha, vault)
    row = Delivery.objects.get(target__type="webhook")
    delivery.send(row.pk)
    Delivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    delivery.send(row.pk)
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 2 and "ConnectionRefused" in row.last_response


def test_a_delivery_held_by_one_worker_is_not_sent_by_another_until_that_worker_is_presumed_lost(alpha, settings):
    vault = make_vault(alpha)
    make_targets(alpha, "http://127.0.0.1:9/")
    _raise(alpha, vault)
    row = Delivery.objects.get(target__type="webhook")
    Delivery.objects.filter(pk=row.pk).update(status="sending", claimed_at=timezone.now())
    assert row.pk not in delivery.due_ids()
    assert delivery.send(row.pk) is False and Delivery.objects.get(pk=row.pk).attempts == 0
    lost = timezone.now() - timedelta(seconds=settings.ALERTS_SENDING_TIMEOUT_S + 1)
    Delivery.objects.filter(pk=row.pk).update(claimed_at=lost)
    assert row.pk in delivery.due_ids()


def test_the_test_button_sends_a_sample_to_a_target(alpha, mail_to, webhook):
    mail, hook, _ = make_targets(alpha, webhook.url)
    assert delivery.send_test(hook).status == "delivered"
    assert webhook.requests[0]["valid"] and webhook.requests[0]["json"]["event"] == "alert.test"
    assert delivery.send_test(mail).status == "delivered"
    assert mail_to.messages[0]["Subject"] == "[Information] Test alert"


def test_a_webhook_secret_is_never_rendered_and_is_kept_when_left_empty(alpha):
    form = AlertTargetForm(data={"subscription": alpha.pk, "name": "h", "type": "webhook",
                                 "url": "https://hooks.example.com/x", "secret": SECRET})
    assert form.is_valid(), form.errors
    target = form.save()
    edit = AlertTargetForm(instance=target)
    assert SECRET not in str(edit)
    again = AlertTargetForm(instance=target, data={"subscription": alpha.pk, "name": "h2", "type": "webhook",
                                                    "url": "https://hooks.example.com/x", "secret": ""})
    assert again.is_valid(), again.errors
    assert again.save().secret == SECRET
    short = AlertTargetForm(data={"subscription": alpha.pk, "name": "h", "type": "webhook",
                                  "url": "ftp://x", "secret": "short"})
    assert not short.is_valid()
    assert short.errors["url"] and short.errors["secret"] == [
        "A webhook target needs a secret of at least 16 characters."]
    bad_mail = AlertTargetForm(data={"subscription": alpha.pk, "name": "m", "type": "email", "emails": "a@x.com, nope"})
    assert not bad_mail.is_valid() and bad_mail.errors["emails"] == ["'nope' is not an e-mail address."]
