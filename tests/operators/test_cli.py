"""`manage.py backup` end to end: JSON shapes, tables, exit codes, and `job wait` on a real worker."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults.models import Vault
from backup.vms.models import RecoveryPoint, VirtualMachine
from tests.factories import make_protected_item
from tests.worker import wait_for


def backup(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("backup", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def backup_json(*args):
    return json.loads(backup(*args, "--json")[0])


def exit_code(*args) -> int:
    with pytest.raises(CommandError) as raised:
        backup(*args)
    return raised.value.returncode


def test_vault_list_json_has_the_api_shape(alice, fleet):
    [vault] = backup_json("--user", "alice", "vault", "list")
    assert set(vault) >= {"id", "name", "region", "status", "redundancy", "subscription_id", "created_at"}
    assert vault["name"] == "Payroll"


def test_vault_list_prints_a_table(alice, fleet):
    out, _ = backup("--user", "alice", "vault", "list")
    assert out.splitlines()[0].split()[:3] == ["ID", "NAME", "REGION"]
    assert "Payroll" in out


def test_vault_create_and_its_field_errors(alice, alpha):
    created = backup_json("--user", "alice", "vault", "create", "--name", "Ops", "--region", "West US",
                          "--subscription", "Alpha")
    assert created["status"] == "creating"
    assert Vault.objects.filter(name="Ops").exists()
    with pytest.raises(CommandError, match="name: A backup vault named 'Ops' already exists"):
        backup("--user", "alice", "vault", "create", "--name", "Ops", "--region", "West US", "--subscription",
               "Alpha")


def test_an_outsider_cannot_see_the_vault(charlie, fleet):
    assert exit_code("--user", "charlie", "vault", "show", str(fleet["vault"].pk)) == 3
    assert backup_json("--user", "charlie", "vault", "list") == []


def test_unknown_user_and_missing_user_are_explained(fleet, django_user_model):
    assert exit_code("--user", "nobody", "vault", "list") == 3
    with pytest.raises(CommandError, match="--user"):
        backup("vault", "list")  # no superuser to default to


def test_the_only_superuser_is_the_default_user(fleet, django_user_model, alpha):
    root = django_user_model.objects.create_superuser("root", "root@example.org", None)
    alpha.memberships.create(user=root)
    assert [v["name"] for v in backup_json("vault", "list")] == ["Payroll"]


def test_item_list_and_backup_now(alice, fleet, django_capture_on_commit_callbacks):
    [item] = backup_json("--user", "alice", "item", "list", "--vault", "Payroll")
    assert item["name"] == "payroll-db" and item["status"] == "pending"
    with django_capture_on_commit_callbacks() as callbacks:
        job = backup_json("--user", "alice", "backup-now", "--item", "payroll-db", "--vault", "Payroll")
    assert (job["operation"], job["status"]) == ("backup", "in_progress")
    assert len(callbacks) == 1


def test_backup_now_refused_while_another_operation_runs_exits_1(alice, fleet):
    Job.objects.create(subscription=fleet["vault"].subscription, operation=Operation.BACKUP,
                       lock_key=f"vm:{fleet['item'].vm_id}")
    assert exit_code("--user", "alice", "backup-now", "--item", str(fleet["item"].pk)) == 1


def test_job_list_show_and_retry(alice, fleet):
    jobs = backup_json("--user", "alice", "job", "list", "--status", "failed")
    assert [j["id"] for j in jobs] == [fleet["job"].pk]
    shown = backup_json("--user", "alice", "job", "show", str(fleet["job"].pk))
    assert shown["subtasks"][0]["name"] == "Take Snapshot"
    retried = backup_json("--user", "alice", "job", "retry", str(fleet["job"].pk))
    assert retried["id"] != fleet["job"].pk and retried["operation"] == "backup"


def test_job_list_and_started_jobs_name_the_cloud_service(alice, fleet):
    job = fleet["job"]
    Job.objects.filter(pk=job.pk).update(item_parent="contoso-web")
    out, _ = backup("--user", "alice", "job", "list")
    heading, row = out.splitlines()[:2]
    assert "CLOUD SERVICE" in heading and "contoso-web" in row
    item = fleet["item"]
    out, _ = backup("--user", "alice", "backup-now", "--item", str(item.pk))
    assert f"Backup '{item.vm_name} ({item.cloud_service_name})'" in out


def test_job_wait_on_a_finished_job(alice, fleet):
    Job.objects.filter(pk=fleet["job"].pk).update(status=JobStatus.COMPLETED, progress_percent=100)
    out, err = backup("--user", "alice", "job", "wait", str(fleet["job"].pk), "--json")
    assert json.loads(out)["status"] == "completed"
    assert "100%" in err  # the progress bar


def test_job_wait_on_a_failed_job_exits_1_with_the_reason(alice, fleet):
    Job.objects.filter(pk=fleet["job"].pk).update(error_message="Snapshot VM sub task timed out.")
    with pytest.raises(CommandError, match="Snapshot VM sub task timed out") as raised:
        backup("--user", "alice", "job", "wait", str(fleet["job"].pk), "--quiet")
    assert raised.value.returncode == 1


def test_job_wait_times_out(alice, fleet):
    running = Job.objects.create(subscription=fleet["vault"].subscription, operation=Operation.VERIFY)
    assert exit_code("--user", "alice", "job", "wait", str(running.pk), "--timeout", "0", "--quiet") == 1


def test_job_cancel_of_a_finished_job_exits_1(alice, fleet):
    assert exit_code("--user", "alice", "job", "cancel", str(fleet["job"].pk)) == 1


def test_verify_and_gc_start_jobs(alice, fleet):
    assert backup_json("--user", "alice", "verify", "--vault", "Payroll")["operation"] == "verify"
    Job.objects.filter(operation=Operation.VERIFY).update(status=JobStatus.COMPLETED, ended_at=timezone.now())
    assert backup_json("--user", "alice", "verify", "--point", str(fleet["point"].pk))["item_name"] == "payroll-db"
    assert backup_json("--user", "alice", "gc", "--vault", "Payroll")["operation"] == "garbage_collection"


def test_restore_of_a_multi_dc_domain_controller_needs_disks_only(alice, fleet):
    VirtualMachine.objects.filter(pk=fleet["item"].vm_id).update(domain_controller=True, multi_dc_domain=True)
    RecoveryPoint.objects.filter(pk=fleet["point"].pk).update(
        disks=[{"key": "os", "size": 1 << 30, "logical_bytes": 1 << 20}])
    point = str(fleet["point"].pk)
    with pytest.raises(CommandError, match="Restore the disks only") as refused:
        backup("--user", "alice", "restore", "--point", point, "--storage-account", "payrollstore")
    assert refused.value.returncode == 1
    job = backup_json("--user", "alice", "restore", "--point", point, "--disks-only",
                      "--storage-account", "payrollstore")
    assert (job["operation"], job["status"]) == ("restore", "in_progress")


def test_stop_protection_keeps_or_deletes_the_data(alice, fleet):
    job = backup_json("--user", "alice", "stop-protection", "--item", str(fleet["item"].pk), "--delete-data")
    assert job["operation"] == "stop_protection"
    assert Job.objects.get(pk=job["id"]).params["delete_data"] is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_backup_now_wait_follows_a_real_worker_to_completion(celery_worker, alpha, alice):
    item = make_protected_item(alpha, os_mib=1, data_mib=1)
    out, err = backup("--user", "alice", "backup-now", "--item", str(item.pk), "--wait", "--json", "--interval", "0.2")
    job = json.loads(out)
    assert job["status"] == "completed", job
    assert [s["name"] for s in job["subtasks"]][:2] == ["Take Snapshot", "Transfer data to Backup vault"]
    assert "Completed" in err
    # And the verify job of what was just written, on the same worker.
    verified = backup_json("--user", "alice", "verify", "--vault", str(item.vault_id), "--wait", "--interval", "0.2")
    assert verified["status"] == "completed" and verified["result"]["points_checked"] == 1
    wait_for(lambda: not Job.objects.filter(status__in=["in_progress", "cancelling"]).exists(), message="prune ends")


def test_verify_due_runs_the_scheduled_selection_now_and_says_when_nothing_is_due(alice, fleet):
    job = backup_json("--user", "alice", "verify", "--vault", "Payroll", "--due", "new")
    assert (job["operation"], Job.objects.get(pk=job["id"]).params) == (
        "verify", {"point_ids": [fleet["point"].point_id], "scope": "new"})
    assert not Job.objects.get(pk=job["id"]).scheduled  # an operator's run, not beat's
    with pytest.raises(CommandError, match="No recovery point of this vault was last verified more than 30 days"):
        backup("--user", "alice", "verify", "--vault", "Payroll", "--due", "old")
    assert exit_code("--user", "alice", "verify", "--point", str(fleet["point"].pk), "--due", "new") == 1
