from django.urls import reverse
from django.utils import timezone

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
