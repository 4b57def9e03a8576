"""`manage.py backup discover / register / protect / policy list`: the Quick Start from a shell, over the
services the API calls; recovery points by name; the default user who sees nothing."""

import pytest
from django.core.management.base import CommandError

from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import CloudService, ProtectedItem, RegisteredItem, VirtualMachine
from tests.factories import make_policy, make_vault, make_vm
from tests.operators.test_cli import backup, backup_json, exit_code


@pytest.fixture
def vault(alpha):
    return make_vault(alpha, name="Payroll")


def _rows(alpha, *names: str, service: str = "payroll-svc") -> list[VirtualMachine]:
    # Rows only: registration's checks run in the job, which these tests do not run.
    cloud = CloudService.objects.get_or_create(subscription=alpha, name=service, region="West US")[0]
    return [VirtualMachine.objects.create(subscription=alpha, cloud_service=cloud, name=n) for n in names]


def test_discover_starts_the_vaults_discovery_job(alice, vault):
    job = backup_json("--user", "alice", "discover", "--vault", "Payroll")
    assert (job["operation"], job["status"], job["vault_id"]) == ("discovery", "in_progress", vault.pk)


def test_register_takes_names_ids_and_cloud_service_names(alice, alpha, vault):
    web, app = _rows(alpha, "web01", "app01")
    [other_web] = _rows(alpha, "web01", service="shop-svc")
    with pytest.raises(CommandError, match="Several virtual machines are named 'web01'"):
        backup("--user", "alice", "register", "--vault", "Payroll", "web01")
    jobs = backup_json("--user", "alice", "register", "--vault", "Payroll", "payroll-svc/web01", str(app.pk))
    assert sorted((j["operation"], j["item_name"]) for j in jobs) == [("register", "app01"), ("register", "web01")]
    assert set(RegisteredItem.objects.filter(vault=vault).values_list("vm_id", flat=True)) == {web.pk, app.pk}
    assert other_web.pk not in {Job.objects.get(pk=j["id"]).item_id for j in jobs}


def test_register_refusals_exit_codes(alice, alpha, vault):
    assert exit_code("--user", "alice", "register", "--vault", "Payroll", "ghost") == 3
    [web] = _rows(alpha, "web01")
    RegisteredItem.objects.create(vault=vault, vm=web, vm_name="web01", cloud_service_name="payroll-svc",
                                  status=RegisteredItem.Status.REGISTERED)
    with pytest.raises(CommandError, match="vm_ids: Already registered with this vault: web01"):
        backup("--user", "alice", "register", "--vault", "Payroll", "web01")
    assert exit_code("--user", "alice", "register", "--vault", "Payroll", "999999") == 1  # the service's refusal


def test_protect_with_a_policy_by_name_or_id(alice, alpha, vault):
    web, app = _rows(alpha, "web01", "app01")
    for vm in (web, app):
        RegisteredItem.objects.create(vault=vault, vm=vm, vm_name=vm.name, cloud_service_name="payroll-svc",
                                      status=RegisteredItem.Status.REGISTERED)
    gold = make_policy(vault, name="Gold")
    jobs = backup_json("--user", "alice", "protect", "--vault", "Payroll", "--policy", "gold", "web01")
    assert [(j["operation"], j["item_name"]) for j in jobs] == [("configure_protection", "web01")]
    assert Job.objects.get(pk=jobs[0]["id"]).params["policy_id"] == gold.pk
    out, _ = backup("--user", "alice", "protect", "--vault", "Payroll", "--policy", str(gold.pk), "app01")
    assert "Job " in out and "'app01 (payroll-svc)'" in out
    assert exit_code("--user", "alice", "protect", "--vault", "Payroll", "--policy", "Silver", "app01") == 3


def test_protect_of_a_machine_not_registered_is_refused_with_the_services_words(alice, alpha, vault):
    [web] = _rows(alpha, "web01")
    RegisteredItem.objects.create(vault=vault, vm=web, vm_name="web01", cloud_service_name="payroll-svc",
                                  status=RegisteredItem.Status.FAILED)
    make_policy(vault, name="Gold")
    with pytest.raises(CommandError, match="not registered with this vault") as refused:
        backup("--user", "alice", "protect", "--vault", "Payroll", "--policy", "Gold", "web01")
    assert refused.value.returncode == 1


def test_policy_list_has_the_api_shape(alice, vault):
    make_policy(vault, name="Gold", weekly_retention_weeks=4)
    [gold] = backup_json("--user", "alice", "policy", "list", "--vault", "Payroll")
    assert gold["name"] == "Gold" and gold["weekly_retention_weeks"] == 4 and gold["protected_items"] == 0
    out, _ = backup("--user", "alice", "policy", "list", "--vault", "Payroll")
    assert out.splitlines()[0].split()[:3] == ["ID", "NAME", "SCHEDULE"]


def test_item_registered_lists_discovered_and_failed_items(alice, alpha, vault):
    web, app = _rows(alpha, "web01", "app01")
    RegisteredItem.objects.create(vault=vault, vm=web, vm_name="web01", cloud_service_name="payroll-svc")
    RegisteredItem.objects.create(vault=vault, vm=app, vm_name="app01", cloud_service_name="payroll-svc",
                                  status=RegisteredItem.Status.FAILED, status_reason="VM agent not found.")
    rows = backup_json("--user", "alice", "item", "registered", "--vault", "Payroll")
    assert [(r["name"], r["status"]) for r in rows] == [("app01", "failed"), ("web01", "not_registered")]
    [failed] = backup_json("--user", "alice", "item", "registered", "--vault", "Payroll", "--status", "failed")
    assert failed["status_reason"] == "VM agent not found."


def test_a_recovery_point_by_the_name_point_list_shows(alice, fleet):
    [listed] = backup_json("--user", "alice", "point", "list", "--vault", "Payroll")
    job = backup_json("--user", "alice", "verify", "--point", listed["point_id"])
    assert (job["operation"], job["item_name"]) == ("verify", "payroll-db")
    assert exit_code("--user", "alice", "restore", "--point", "job-999999") == 3


def test_default_user_of_no_subscription_is_refused_with_exit_code_2(fleet, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.org", None)
    with pytest.raises(CommandError, match="'root' is a member of no subscription.*--user") as refused:
        backup("vault", "list")
    assert refused.value.returncode == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_discover_register_protect_wait_on_a_real_worker(celery_worker, alpha, alice):
    vault = make_vault(alpha, name="Payroll")
    vm = make_vm(alpha, name="web01", os_mib=1, data_mib=1)
    args = ("--user", "alice", "--vault", "Payroll", "--wait", "--quiet", "--interval", "0.2")
    assert backup_json(args[0], args[1], "discover", *args[2:])["status"] == "completed"
    [registered] = backup_json(args[0], args[1], "register", *args[2:], "web01")
    assert registered["status"] == "completed", registered
    make_policy(vault, name="Gold")
    [protected] = backup_json(args[0], args[1], "protect", *args[2:], "--policy", "Gold", "web01")
    assert protected["status"] == "completed", protected
    assert ProtectedItem.objects.get(vault=vault, vm=vm).policy.name == "Gold"
    assert not Job.objects.filter(operation=Operation.REGISTER).exclude(status=JobStatus.COMPLETED).exists()
