"""The vault's JOBS tab, the job row and details, the DASHBOARD, BACK UP NOW and the jobs API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backup.jobs.models import Job, JobStatus, Operation, SubTask
from backup.vms.models import RecoveryPoint
from tests.factories import make_vault


def _job(vault, name="vm-a", operation=Operation.BACKUP, status=JobStatus.COMPLETED, age=timedelta(hours=1), **kw):
    started = timezone.now() - age
    return Job.objects.create(subscription=vault.subscription, vault_id=vault.pk, item_name=name, item_type="vm",
                              operation=operation, status=status, started_at=started,
                              ended_at=None if status in ("in_progress", "cancelling") else started + timedelta(
                                  seconds=75), **kw)


@pytest.fixture
def vault(alpha):
    return make_vault(alpha, name="Payroll")


@pytest.mark.django_db
def test_jobs_tab_lists_the_vaults_jobs_newest_first(alice_client, vault):
    old = _job(vault, "vm-old", age=timedelta(hours=3))
    new = _job(vault, "vm-new", age=timedelta(minutes=5))
    response = alice_client.get(reverse("vault-jobs", args=[vault.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(f'job-row-{new.pk}') < html.index(f'job-row-{old.pk}')
    assert "1m 15s" in html  # duration
    assert 'hx-push-url="true"' in html


@pytest.mark.django_db
def test_jobs_tab_filters_by_operation_status_item_and_time_range(alice_client, vault):
    backup = _job(vault, "vm-a")
    failed = _job(vault, "vm-b", status=JobStatus.FAILED)
    restore = _job(vault, "vm-a", operation=Operation.RESTORE)
    week_old = _job(vault, "vm-a", age=timedelta(days=3))
    url = reverse("vault-jobs", args=[vault.pk])

    def rows(**params):
        html = alice_client.get(url, params).content.decode()
        return {j.pk for j in (backup, failed, restore, week_old) if f"job-row-{j.pk}" in html}

    assert rows() == {backup.pk, failed.pk, restore.pk}  # last 24 hours by default
    assert rows(operation="restore") == {restore.pk}
    assert rows(status="failed") == {failed.pk}
    assert rows(item="vm-a") == {backup.pk, restore.pk}
    assert rows(range="7d", item="vm-a", operation="backup") == {backup.pk, week_old.pk}
    start = (timezone.now() - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    end = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert rows(range="custom", start=start, end=end) == {week_old.pk}


@pytest.mark.django_db
def test_jobs_tab_shows_field_errors_for_bad_filters(alice_client, vault):
    html = alice_client.get(reverse("vault-jobs", args=[vault.pk]), {"status": "bogus", "range": "custom"}).content
    assert b'data-field="status"' in html and b'data-field="start"' in html


@pytest.mark.django_db
def test_the_filters_show_the_chosen_values_whichever_were_drawn_before(alice_client, vault):
    url = reverse("vault-jobs", args=[vault.pk])
    for operation, other in (("backup", "restore"), ("restore", "backup"), ("backup", "restore")):
        html = alice_client.get(url, {"operation": operation, "maintenance": "on"}).content.decode()
        assert f'<option value="{operation}" selected>' in html and f'<option value="{other}">' in html
        assert 'name="maintenance" id="id_maintenance" checked' in html
    html = alice_client.get(url, {"range": "custom", "start": "2026-11-01T10:00"}).content.decode()
    assert 'value="2026-11-01T10:00"' in html and 'name="maintenance" id="id_maintenance" checked' not in html


def test_htmx_filter_request_gets_only_the_job_list(alice_client, vault):
    _job(vault)
    response = alice_client.get(reverse("vault-jobs", args=[vault.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.startswith('<div id="job-list">') and "vault-header" not in html


@pytest.mark.django_db
def test_jobs_tab_paginates(alice_client, vault):
    for i in range(55):
        _job(vault, f"vm-{i:02d}", age=timedelta(minutes=i + 1))
    first = alice_client.get(reverse("vault-jobs", args=[vault.pk])).content.decode()
    second = alice_client.get(reverse("vault-jobs", args=[vault.pk]), {"page": 2}).content.decode()
    assert first.count('class="job-row"') == 50 and second.count('class="job-row"') == 5
    assert "Page 1 of 2" in first and "page=2" in first
    assert second.index(">vm-50<") < second.index(">vm-52<") < second.index(">vm-54<")  # newest first there too


@pytest.mark.django_db
def test_jobs_tab_query_count_does_not_grow_with_rows(alice_client, vault, django_assert_max_num_queries):
    url = reverse("vault-jobs", args=[vault.pk])
    _job(vault)
    # session, user, vault, count, the page's rows (their ids a subquery), unread notifications
    with django_assert_max_num_queries(6):
        alice_client.get(url)
    for i in range(60):
        _job(vault, f"vm-{i}", status=JobStatus.IN_PROGRESS if i % 2 else JobStatus.FAILED, cancellable=True)
    with django_assert_max_num_queries(6):
        alice_client.get(url)
    with django_assert_max_num_queries(6):
        assert "vm-0<" in alice_client.get(url, {"page": 2}).content.decode()  # page 2 holds the oldest


@pytest.mark.django_db
def test_running_row_polls_and_a_final_row_stops_polling(alice_client, vault):
    job = _job(vault, status=JobStatus.IN_PROGRESS, progress_percent=40, cancellable=True)
    response = alice_client.get(reverse("job-row", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in response.content.decode() and 'data-progress="40"' in response.content.decode()
    assert "CANCEL" in response.content.decode()
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED, ended_at=timezone.now())
    response = alice_client.get(reverse("job-row", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()


@pytest.mark.django_db
def test_job_details_dialog_shows_sub_tasks_bytes_error_and_action(alice_client, vault):
    job = _job(vault, status=JobStatus.FAILED, bytes_done=3 << 20, bytes_total=6 << 20,
               error_message="Could not perform the operation as VM no longer exists.",
               recommended_action="Stop protection and keep the data")
    SubTask.objects.create(job=job, name="Take Snapshot", status=JobStatus.FAILED, position=1)
    response = alice_client.get(reverse("job-detail", args=[job.pk]), {"modal": 1}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'role="dialog"' in html and "Take Snapshot" in html and "3.0\xa0MB of 6.0\xa0MB" in html
    assert "VM no longer exists" in html and "Stop protection and keep the data" in html


@pytest.mark.django_db
def test_cancel_from_the_row_marks_the_job_cancelling(alice_client, vault):
    job = _job(vault, status=JobStatus.IN_PROGRESS, cancellable=True, claimed_at=timezone.now())
    response = alice_client.post(reverse("job-cancel", args=[job.pk]) + "?target=row", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING and job.cancel_requested
    assert f'id="job-row-{job.pk}"' in response.content.decode()


@pytest.mark.django_db
def test_jobs_and_dashboard_are_hidden_from_outsiders(charlie_client, client, vault):
    job = _job(vault)
    for name in ("vault-jobs", "vault-dashboard"):
        assert charlie_client.get(reverse(name, args=[vault.pk])).status_code == 404
    assert charlie_client.get(reverse("job-row", args=[job.pk])).status_code == 404
    assert charlie_client.post(reverse("vault-backup-now", args=[vault.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("vault-jobs", args=[vault.pk])).status_code == 302
    assert client.get(reverse("vault-dashboard", args=[vault.pk])).status_code == 302


@pytest.mark.django_db
def test_dashboard_counts_protected_vms_jobs_and_storage(alice_client, vault):
    from tests.factories import make_protected_item

    item = make_protected_item(vault.subscription, vault=vault)
    _job(vault, status=JobStatus.COMPLETED)
    _job(vault, status=JobStatus.FAILED)
    _job(vault, status=JobStatus.FAILED)
    _job(vault, status=JobStatus.IN_PROGRESS)
    _job(vault, status=JobStatus.FAILED, age=timedelta(days=2))  # older than 24 hours
    RecoveryPoint.objects.create(vault=vault, protected_item=item, vm_name=item.vm_name, point_id="p1",
                                 created_at=timezone.now() - timedelta(days=3), consistency="application",
                                 logical_bytes=5 << 20, stored_bytes_new=2 << 20)
    html = alice_client.get(reverse("vault-dashboard", args=[vault.pk])).content.decode()
    assert '<div class="dash-number" id="dash-protected">1</div>' in html
    assert f'href="/vaults/{vault.pk}/jobs/?status=failed&amp;range=24h"' in html
    assert "<strong>2</strong>" in html and "<strong>1</strong>" in html
    assert "2.0\xa0MB" in html and "5.0\xa0MB" in html
    assert "<polyline" in html


@pytest.mark.django_db
def test_back_up_now_button_starts_a_job_per_ticked_item(
    alice_client, alpha, vault, django_capture_on_commit_callbacks
):
    from tests.factories import make_protected_item

    item = make_protected_item(alpha, vault=vault)
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(reverse("vault-backup-now", args=[vault.pk]), {"item": [item.pk]},
                                     HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "VIEW JOB" in response.content.decode()
    job = Job.objects.get(operation=Operation.BACKUP)
    assert job.params == {"protected_item_id": item.pk} and len(callbacks) == 1
    empty = alice_client.post(reverse("vault-backup-now", args=[vault.pk]))
    assert empty.status_code == 400 and b"Select the protected items" in empty.content


@pytest.mark.django_db
def test_api_backs_up_an_item_and_lists_vault_jobs(client, alice, charlie, alpha, vault, api_headers):
    from tests.factories import make_protected_item

    item = make_protected_item(alpha, vault=vault)
    response = client.post(f"/api/v1/protected-items/{item.pk}/backup", headers=api_headers(alice))
    assert response.status_code == 202
    job_id = response.json()["id"]
    busy = client.post(f"/api/v1/protected-items/{item.pk}/backup", headers=api_headers(alice))
    assert busy.status_code == 202 and busy.json()["status"] == "failed"
    _job(vault, "other", status=JobStatus.FAILED)
    listed = client.get(f"/api/v1/vaults/{vault.pk}/jobs", {"operation": "backup", "status": "in_progress"},
                        headers=api_headers(alice)).json()
    assert [j["id"] for j in listed["jobs"]] == [job_id] and listed["count"] == 1
    bad = client.get(f"/api/v1/vaults/{vault.pk}/jobs", {"status": "nope"}, headers=api_headers(alice))
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    detail = client.get(f"/api/v1/jobs/{job_id}", headers=api_headers(alice)).json()
    assert detail["subtasks"] == [] and detail["cancellable"] is True
    assert client.post(f"/api/v1/protected-items/{item.pk}/backup", headers=api_headers(charlie)).status_code == 404
    assert client.get(f"/api/v1/vaults/{vault.pk}/jobs", headers=api_headers(charlie)).status_code == 404
    assert client.get(f"/api/v1/vaults/{vault.pk}/jobs").status_code == 401


@pytest.mark.django_db
def test_view_job_link_of_a_notification_opens_the_job_details(alice_client, alice, vault):
    from backup.jobs import services
    from backup.jobs.locks import Subject

    job = services.start(subscription=vault.subscription, operation=Operation.BACKUP,
                         subject=Subject(vault_id=vault.pk, item_name="vm-z"), user=alice)
    note = alice.notifications.get(key=f"job-{job.pk}")
    assert note.link_label == "VIEW JOB"
    page = alice_client.get(note.link_url)
    assert page.status_code == 200 and b"SUB-TASKS" in page.content and b"vm-z" in page.content


def test_job_links_built_by_formatting_match_the_url_patterns():
    from django.urls import reverse

    from backup.jobs.models import Job

    job = Job(pk=42)
    assert job.detail_url == reverse("job-detail", args=[42])
    assert job.row_url == reverse("job-row", args=[42])
    assert job.cancel_url == reverse("job-cancel", args=[42])


@pytest.mark.django_db
@pytest.mark.parametrize("order", [("-started_at", "-id"), ("started_at", "id"), ("operation", "-started_at")])
def test_every_page_holds_the_rows_of_its_place_in_the_order_from_either_end(vault, order):
    now = timezone.now()
    for i in range(23):  # ties in the start time: the id decides
        _job(vault, f"vm-{i}", operation=Operation.RESTORE if i % 3 else Operation.BACKUP,
             age=timedelta(minutes=i // 4))
    jobs = Job.objects.for_vault_page(vault.pk, since=now - timedelta(days=1), order=order)
    expected = list(jobs.values_list("id", flat=True))
    assert len(expected) == 23
    for number in range(1, 6):
        page = Job.objects.page_of(jobs, number, 5, fields=("id", "item_name"))
        assert [job.pk for job in page.object_list] == expected[(number - 1) * 5 : number * 5], number
