"""The Jobs page that tells the truth without a reload: new jobs under the current filters, the cloud service,
maintenance jobs kept aside, progress figures, a calm Cancelled, local times and the toasts' timing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template import engines
from django.urls import reverse
from django.utils import timezone

from backup.jobs import runner
from backup.jobs.locks import Subject
from backup.jobs.models import Job, JobStatus, Operation
from backup.notifications.models import Notification
from backup.notifications.services import notify
from tests.factories import make_vault

pytestmark = pytest.mark.django_db


def _job(vault, name="vm-a", operation=Operation.BACKUP, status=JobStatus.COMPLETED, **kw):
    return Job.objects.create(subscription=vault.subscription, vault_id=vault.pk, item_name=name, item_type="vm",
                              operation=operation, status=status, **kw)


@pytest.fixture
def vault(alpha):
    return make_vault(alpha, name="Payroll")


def test_the_first_page_polls_for_jobs_started_after_it_under_its_filters(alice_client, vault):
    seen = _job(vault, "web01")
    url = reverse("vault-jobs", args=[vault.pk])
    html = alice_client.get(url, {"operation": "backup"}).content.decode()
    assert f"newer_than={seen.pk}" in html and "operation=backup" in html and 'id="job-new-poller"' in html

    backup = _job(vault, "app01")
    _job(vault, "app02", operation=Operation.RESTORE)  # another operation: not under this filter
    response = alice_client.get(url, {"operation": "backup", "newer_than": seen.pk}, HTTP_HX_REQUEST="true")
    fresh = response.content.decode()
    assert f"job-row-{backup.pk}" in fresh and "app02" not in fresh and f"job-row-{seen.pk}" not in fresh
    assert f"newer_than={backup.pk}" in fresh  # the next poll asks for what comes after


def test_a_poll_that_finds_no_new_job_answers_no_content(alice_client, vault):
    seen = _job(vault, "web01")
    url = reverse("vault-jobs", args=[vault.pk])
    response = alice_client.get(url, {"newer_than": seen.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response.content == b""  # htmx swaps nothing and polls again
    _job(vault, "web02", operation=Operation.RESTORE)
    other_filter = alice_client.get(url, {"newer_than": seen.pk, "operation": "backup"}, HTTP_HX_REQUEST="true")
    assert other_filter.status_code == 204
    fresh = alice_client.get(url, {"newer_than": seen.pk}, HTTP_HX_REQUEST="true")
    assert fresh.status_code == 200 and "web02" in fresh.content.decode()


def test_an_empty_first_page_polls_for_its_first_job(alice_client, vault):
    url = reverse("vault-jobs", args=[vault.pk])
    assert "newer_than=0" in alice_client.get(url).content.decode()
    assert alice_client.get(url, {"newer_than": 0}, HTTP_HX_REQUEST="true").status_code == 204
    first = _job(vault, "web01")
    fresh = alice_client.get(url, {"newer_than": 0}, HTTP_HX_REQUEST="true").content.decode()
    assert f"job-row-{first.pk}" in fresh and 'id="job-list-empty" hx-swap-oob="delete"' in fresh


def test_rows_escape_what_they_show_and_name_a_running_jobs_bytes(alice_client, vault):
    running = _job(vault, "<b>vm</b>", status=JobStatus.IN_PROGRESS, item_parent='cs"1', progress_percent=40,
                   bytes_done=15 << 20, bytes_total=30 << 20, cancellable=True)
    html = alice_client.get(reverse("vault-jobs", args=[vault.pk])).content.decode()
    row = html.split(f'id="job-row-{running.pk}"')[1].split("</tr>")[0]
    assert "&lt;b&gt;vm&lt;/b&gt;" in row and "<b>vm</b>" not in row and "cs&quot;1" in row
    assert f'hx-get="/jobs/{running.pk}/row/" hx-trigger="every 2s"' in row
    assert 'aria-valuenow="40"' in row and "40% &middot; 15.0\xa0MB of 30.0\xa0MB" in row
    assert f'hx-post="/jobs/{running.pk}/cancel/?target=row"' in row and "<time datetime=" in row


def test_maintenance_jobs_are_hidden_unless_asked_for_and_left_out_of_counts(alice_client, vault):
    _job(vault, "web01", operation=Operation.PRUNE)
    _job(vault, "", operation=Operation.GARBAGE_COLLECTION)
    backup = _job(vault, "web01")
    url = reverse("vault-jobs", args=[vault.pk])
    hidden = alice_client.get(url).content.decode()
    assert f"job-row-{backup.pk}" in hidden and "Prune" not in hidden.split('id="job-list"')[1]
    shown = alice_client.get(url, {"maintenance": "on"}).content.decode()
    assert 'data-operation="prune"' in shown and 'data-operation="garbage_collection"' in shown
    chosen = alice_client.get(url, {"operation": "prune"}).content.decode()
    assert 'data-operation="prune"' in chosen
    counts = Job.objects.counts_since(vault.pk, timezone.now() - timedelta(hours=1))
    assert counts["completed"] == 1


def test_maintenance_jobs_send_no_toast_but_their_failure(alice, vault):
    prune = _job(vault, "web01", operation=Operation.PRUNE, created_by=alice, scheduled=True)
    runner.notify(prune)
    assert not Notification.objects.filter(user=alice).exists()
    prune.status = JobStatus.FAILED
    runner.notify(prune)
    assert Notification.objects.get(user=alice).level == Notification.Level.ERROR


def test_jobs_name_their_cloud_service_in_rows_details_and_toasts(alice_client, alice, vault):
    class Item:
        vault_id, vm_id, vm_name, cloud_service_name = vault.pk, 7, "web01", "cs2"

    subject = Subject.of_item(Item)
    job = _job(vault, subject.item_name, item_parent=subject.item_parent, created_by=alice)
    assert job.item_label == "web01 (cs2)"
    row = alice_client.get(reverse("vault-jobs", args=[vault.pk])).content.decode()
    assert "CLOUD SERVICE" in row and '<td class="cloud-service">cs2</td>' in row
    details = alice_client.get(reverse("job-detail", args=[job.pk])).content.decode()
    assert "<dt>CLOUD SERVICE</dt><dd>cs2</dd>" in details
    runner.notify(job)
    assert Notification.objects.get(user=alice).title == "Backup job for 'web01 (cs2)' completed"


def test_progress_names_per_cent_and_bytes_and_stays_after_the_end(alice_client, vault):
    running = _job(vault, status=JobStatus.IN_PROGRESS, progress_percent=42, bytes_done=42 << 20,
                   bytes_total=100 << 20)
    row = alice_client.get(reverse("job-row", args=[running.pk])).content.decode()
    assert "42% &middot; 42.0\xa0MB of 100.0\xa0MB" in row
    Job.objects.filter(pk=running.pk).update(status=JobStatus.COMPLETED, progress_percent=100,
                                             bytes_done=100 << 20, ended_at=timezone.now())
    ended = alice_client.get(reverse("job-row", args=[running.pk]))
    assert ended.status_code == 286 and "progress-last" in ended.content.decode()
    assert "100% &middot; 100.0\xa0MB of 100.0\xa0MB" in ended.content.decode()


def test_a_cancelled_job_is_calm_not_an_error(alice_client, vault):
    job = _job(vault, status=JobStatus.CANCELLED, error_message="The job was cancelled by the user.")
    html = alice_client.get(reverse("job-detail", args=[job.pk])).content.decode()
    assert 'id="job-cancelled"' in html and "job-error" not in html and "status-cancelled" in html


def test_details_show_the_products_property_names_as_written(alice_client, vault):
    job = _job(vault, result={"Backup Size": "13.2 MB", "recovery_point": 4})
    html = alice_client.get(reverse("job-detail", args=[job.pk])).content.decode()
    assert "<dt>BACKUP SIZE</dt><dd>13.2 MB</dd>" in html and "recovery_point" not in html.lower()


def test_times_are_time_elements_holding_iso_8601_with_a_utc_fallback():
    moment = datetime(2026, 12, 1, 15, 4, 9, tzinfo=UTC)
    html = engines["django"].from_string("{{ t|when }}|{{ t|when_text }}").render({"t": moment})
    assert html == ('<time datetime="2026-12-01T15:04:09Z" data-local-time>12/1/2026 3:04:09 PM UTC</time>'
                    "|12/1/2026 3:04:09 PM UTC")


def test_successes_toast_briefly_other_levels_longer(alice):
    done = notify(alice, "Backup job completed", level=Notification.Level.SUCCESS)
    failed = notify(alice, "Backup job failed", level=Notification.Level.ERROR)
    Notification.objects.update(updated_at=timezone.now() - timedelta(seconds=10))
    shown = set(Notification.objects.for_user(alice).for_toasts())
    assert failed in shown and done not in shown


def test_the_jobs_api_names_the_cloud_service_and_shows_maintenance_jobs_when_asked(client, alice, vault,
                                                                                    api_headers):
    _job(vault, "web01", item_parent="cs2")
    _job(vault, "web01", operation=Operation.PRUNE)
    url = f"/api/v1/vaults/{vault.pk}/jobs"
    plain = client.get(url, headers=api_headers(alice)).json()
    assert [(j["operation"], j["cloud_service"]) for j in plain["jobs"]] == [("backup", "cs2")]
    assert plain["jobs"][0]["started_at"].endswith("Z") or "+00:00" in plain["jobs"][0]["started_at"]
    every = client.get(url, {"maintenance": "true"}, headers=api_headers(alice)).json()
    assert {j["operation"] for j in every["jobs"]} == {"backup", "prune"}
