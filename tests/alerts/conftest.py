import pytest

from backup.alerts.models import AlertRule, AlertTarget

from .receivers import SmtpReceiver, WebhookReceiver

SECRET = "webhook-secret-0123456789abcdef"


@pytest.fixture
def smtp_server():
    server = SmtpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def webhook():
    server = WebhookReceiver(SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def mail_to(settings, smtp_server):
    """Django's real SMTP backend (the test run's default is the in-memory one), pointed at the test's server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    return smtp_server


def make_targets(subscription, webhook_url: str, emails: str = "ops@example.com", **rule_fields):
    """An e-mail and a webhook target of the subscription, under one rule."""
    mail = AlertTarget.objects.create(subscription=subscription, name="ops mail", type="email", emails=emails)
    hook = AlertTarget.objects.create(subscription=subscription, name="ops hook", type="webhook", url=webhook_url,
                                      secret=SECRET)
    rule = AlertRule.objects.create(subscription=subscription, name="everything", **rule_fields)
    rule.targets.set([mail, hook])
    return mail, hook, rule
