"""Admin actions start jobs (queued for a worker after commit); nothing runs in the request."""

from django.urls import reverse

from backup.billing.models import DailyUsage
from backup.jobs.models import Job, JobStatus, Operation


def _act(client, model: str, action: str, pks) -> None:
    app, name = model.split(".")
    response = client.post(reverse(f"admin:{app}_{name}_changelist"),
                           {"action": action, "_selected_action": [str(pk) for pk in pks]})
    assert response.status_code == 302


def test_retry_starts_a_new_job_with_the_same_operation_and_params(operator_client, fleet,
                                                                  django_capture_on_commit_callbacks):
    failed = fleet["job"]
    with django_capture_on_commit_callbacks() as callbacks:
        _act(operator_client, "jobs.job", "retry_jobs", [failed.pk])
    new = Job.objects.exclude(pk=failed.pk).get()
    assert (new.operation, new.params, new.status) == (Operation.BACKUP, failed.params, JobStatus.IN_PROGRESS)
    assert len(callbacks) == 1  # run_job enqueued on commit
    failed.refresh_from_db()
    assert failed.status == JobStatus.FAILED  # history unchanged


def test_retry_refuses_a_completed_job(operator_client, fleet):
    Job.objects.filter(pk=fleet["job"].pk).update(status=JobStatus.COMPLETED)
    response = operator_client.post(reverse("admin:jobs_job_changelist"),
                                    {"action": "retry_jobs", "_selected_action": [fleet["job"].pk]}, follow=True)
    assert b"Only a failed or cancelled job can be retried" in response.content
    assert Job.objects.count() == 1


def test_cancel_stops_a_job_no_worker_has_claimed(operator_client, fleet):
    job = Job.objects.create(subscription=fleet["vault"].subscription, operation=Operation.BACKUP, cancellable=True)
    _act(operator_client, "jobs.job", "cancel_jobs", [job.pk])
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_back_up_now_starts_a_backup_job(operator_client, fleet):
    _act(operator_client, "vms.protecteditem", "back_up_now", [fleet["item"].pk])
    job = Job.objects.get(operation=Operation.BACKUP, status=JobStatus.IN_PROGRESS)
    assert job.params == {"protected_item_id": fleet["item"].pk}


def test_verify_a_vault_and_a_recovery_point(operator_client, fleet):
    _act(operator_client, "vaults.vault", "verify_vaults", [fleet["vault"].pk])
    vault_job = Job.objects.get(operation=Operation.VERIFY)
    assert (vault_job.item_type, vault_job.vault_id, vault_job.params) == ("vault", fleet["vault"].pk, {})
    Job.objects.filter(pk=vault_job.pk).update(status=JobStatus.COMPLETED)
    _act(operator_client, "vms.recoverypoint", "verify_points", [fleet["point"].pk])
    point_job = Job.objects.filter(operation=Operation.VERIFY).latest("pk")
    assert point_job.params == {"point_ids": ["job-1"]}


def test_garbage_collection_starts_a_gc_job(operator_client, fleet):
    _act(operator_client, "vaults.vault", "collect_garbage", [fleet["vault"].pk])
    assert Job.objects.get(operation=Operation.GARBAGE_COLLECTION).lock_key == f"gc:vault:{fleet['vault'].pk}"


def test_recompute_months_queues_one_task_per_month(operator_client, fleet, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        _act(operator_client, "billing.dailyusage", "recompute_months", DailyUsage.objects.values_list("pk", flat=True))
    assert len(callbacks) == 1


def test_support_cannot_run_actions(support_client, fleet):
    response = support_client.post(reverse("admin:vaults_vault_changelist"),
                                   {"action": "collect_garbage", "_selected_action": [fleet["vault"].pk]})
    assert not Job.objects.filter(operation=Operation.GARBAGE_COLLECTION).exists()
    assert response.status_code in (200, 302)


def test_the_scheduled_verifications_can_be_run_now(operator_client, fleet):
    _act(operator_client, "vaults.vault", "verify_new_points", [fleet["vault"].pk])
    job = Job.objects.get(operation=Operation.VERIFY)
    assert job.params == {"point_ids": [fleet["point"].point_id], "scope": "new"} and not job.scheduled
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
    response = operator_client.post(reverse("admin:vaults_vault_changelist"), follow=True, data={
        "action": "reverify_old_points", "_selected_action": [str(fleet["vault"].pk)]})
    assert b"Nothing to re-verify" in response.content
