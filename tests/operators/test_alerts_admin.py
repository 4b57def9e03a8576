"""Alert targets in the admin: the secret is write-only, the test button sends a sample, the delivery log shows it."""

import pytest
from django.test import Client

from backup.alerts.models import AlertTarget, Delivery
from tests.alerts.receivers import WebhookReceiver

SECRET = "admin-secret-0123456789abcdef"


@pytest.fixture
def webhook():
    server = WebhookReceiver(SECRET).start()
    yield server
    server.stop()


@pytest.mark.django_db
def test_a_webhook_secret_is_never_shown_again_and_the_test_button_sends_a_signed_sample(
        operator_client, support, alpha, webhook):
    support_client = Client()
    support_client.force_login(support)
    response = operator_client.post("/admin/alerts/alerttarget/add/", {
        "subscription": alpha.pk, "name": "pager", "type": "webhook", "url": webhook.url, "secret": SECRET,
        "emails": ""}, follow=True)
    assert response.status_code == 200
    target = AlertTarget.objects.get(name="pager")
    assert target.secret == SECRET
    for client in (operator_client, support_client):
        for url in ("/admin/alerts/alerttarget/", f"/admin/alerts/alerttarget/{target.pk}/change/"):
            page = client.get(url)
            assert page.status_code == 200 and SECRET not in page.content.decode(), url

    response = operator_client.post("/admin/alerts/alerttarget/", {"action": "send_test",
                                                                   "_selected_action": [target.pk]}, follow=True)
    assert "Test alert delivered to &#x27;pager&#x27;" in response.content.decode()
    [request] = webhook.requests
    assert request["valid"] and request["json"]["event"] == "alert.test"
    delivery = Delivery.objects.get(target=target)
    log = operator_client.get(f"/admin/alerts/delivery/{delivery.pk}/change/").content.decode()
    assert "delivered" in log.lower() and "200" in log
    # Support may look, not send.
    support_client.post("/admin/alerts/alerttarget/", {"action": "send_test", "_selected_action": [target.pk]})
    assert len(webhook.requests) == 1
