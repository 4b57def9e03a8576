import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from kombu import Connection, Exchange, Producer, Queue

from backup.vms.models import ProtectedItem


def test_overview_shows_jobs_failing_items_workers_queue_and_stores(operator_client, fleet, no_worker_ping):
    ProtectedItem.objects.filter(pk=fleet["item"].pk).update(status=ProtectedItem.Status.BACKUP_FAILING,
                                                            last_backup_at=timezone.now())
    page = operator_client.get(reverse("admin-overview"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Jobs in the last 24 hours (1)" in text
    assert fleet["item"].vm_name in text  # failing item
    assert "worker@test" in text
    assert "Tasks waiting in the queue" in text
    assert fleet["vault"].name in text
    assert "store cannot be opened" not in text


def test_admin_index_links_to_the_overview(operator_client):
    page = operator_client.get(reverse("admin:index"))
    assert reverse("admin-overview").encode() in page.content


def test_support_sees_the_overview_but_cannot_recompute_usage(support_client, no_worker_ping):
    page = support_client.get(reverse("admin-overview"))
    assert page.status_code == 200
    assert b"Recompute" not in page.content
    assert support_client.post(reverse("admin-recompute-usage"), {"month": "2015-06"}).status_code == 403


def test_recompute_usage_queues_a_task_after_commit(operator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator_client.post(reverse("admin-recompute-usage"), {"month": "2015-06"})
    assert response.status_code == 302
    assert len(callbacks) == 1


def test_recompute_usage_rejects_a_bad_month(operator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator_client.post(reverse("admin-recompute-usage"), {"month": "June"}, follow=True)
    assert b"Enter a month as YYYY-MM" in response.content
    assert callbacks == []


RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def test_on_rabbitmq_the_overview_counts_the_tasks_waiting_in_the_queue(operator_client, no_worker_ping, settings):
    queue = f"overview-{uuid.uuid4().hex[:8]}"
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_DEFAULT_QUEUE = RABBITMQ_URL, queue
    try:
        connection = Connection(RABBITMQ_URL, connect_timeout=2)
        connection.connect()
    except OSError as error:
        pytest.skip(f"no RabbitMQ on 127.0.0.1:5672 ({error})")
    with connection:
        declared = Queue(queue, Exchange(queue, "direct"), routing_key=queue, auto_delete=True)
        declared(connection.default_channel).declare()
        try:
            producer = Producer(connection.default_channel)
            for n in range(3):
                producer.publish({"n": n}, exchange=queue, routing_key=queue)
            page = operator_client.get(reverse("admin-overview")).content.decode()
            row = page.split("Tasks waiting in the queue", 1)[1].split("</tr>", 1)[0]
            assert '<td class="num">3</td>' in row, row
        finally:
            declared(connection.default_channel).delete()
        page = operator_client.get(reverse("admin-overview")).content.decode()
        row = page.split("Tasks waiting in the queue", 1)[1].split("</tr>", 1)[0]
        assert '<td class="num">0</td>' in row, row  # the queue is gone: nothing waits in it
