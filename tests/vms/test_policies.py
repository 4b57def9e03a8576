"""POLICIES: the product's name, schedule and retention rules, and each policy's beat schedule."""

import json
from datetime import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from backup.jobs.models import Job, Operation
from backup.vaults import services as vault_services
from backup.vaults.models import Vault
from backup.vms.models import BackupPolicy
from backup.vms.services import policies

from .helpers import make_vault, make_vm, run_jobs

DAILY = {"name": "Nightly", "frequency": "daily", "time_of_day": "22:00", "timezone": "UTC",
         "daily_retention_days": 30}


def errors_of(vault, **changes) -> dict:
    with pytest.raises(ValidationError) as error:
        policies.create_policy(vault, DAILY | changes)
    return error.value.message_dict


@pytest.mark.parametrize(("field", "bad", "range_text"), [
    ("daily_retention_days", 0, "1 to 366 days"),
    ("daily_retention_days", 367, "1 to 366 days"),
    ("weekly_retention_weeks", 261, "1 to 260 weeks"),
    ("weekly_retention_weeks", 0, "1 to 260 weeks"),
    ("monthly_retention_months", 121, "1 to 120 months"),
    ("yearly_retention_years", 100, "1 to 99 years"),
    ("yearly_retention_years", "many", "1 to 99 years"),
])
def test_retention_out_of_range_is_refused_at_the_field_with_the_range(vms_vault, field, bad, range_text):
    assert range_text in errors_of(vms_vault, **{field: bad})[field][0]


@pytest.mark.parametrize("name", ["ab", "x" * 151, "1abc", "abc-", "a b c", "név"])
def test_bad_policy_names_are_refused(vms_vault, name):
    assert "name" in errors_of(vms_vault, name=name)


def test_policy_name_clash_uses_the_products_message_case_insensitively(vms_vault):
    policies.create_policy(vms_vault, DAILY)
    clash = errors_of(vms_vault, name="NIGHTLY")["name"]
    assert clash == ["A protection policy with the specified name already exists."]
    other = make_vault(vms_vault.subscription, name="Other")
    policies.create_policy(other, DAILY)  # unique per vault only


def test_a_daily_schedule_needs_a_daily_rule(vms_vault):
    assert "1 to 366 days" in errors_of(vms_vault, daily_retention_days=None)["daily_retention_days"][0]


def test_a_weekly_schedule_needs_a_weekly_rule_days_and_no_daily_rule(vms_vault):
    errors = errors_of(vms_vault, frequency="weekly", days_of_week=[], daily_retention_days=30)
    assert "weekly_retention_weeks" in errors and "days_of_week" in errors and "daily_retention_days" in errors
    policy = policies.create_policy(vms_vault, DAILY | {"frequency": "weekly", "days_of_week": [6, 2],
                                                        "daily_retention_days": None, "weekly_retention_weeks": 104})
    assert policy.days_of_week == [2, 6]


def test_time_is_floored_to_half_hours_and_the_zone_must_exist(vms_vault):
    policy = policies.create_policy(vms_vault, DAILY | {"time_of_day": "21:47", "timezone": "Europe/Paris"})
    assert policy.time_of_day == time(21, 30)
    assert "timezone" in errors_of(vms_vault, name="Other", timezone="Mars/Olympus")


def test_a_policy_gets_a_beat_schedule_in_its_time_zone(vms_vault):
    policy = policies.create_policy(vms_vault, DAILY | {"time_of_day": "06:30", "timezone": "America/New_York"})
    task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
    assert task.task == "backup.vms.tasks.run_scheduled_backups"
    assert json.loads(task.kwargs) == {"policy_id": policy.pk}
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "6", "*")
    assert str(task.crontab.timezone) == "America/New_York"


def test_editing_a_policy_updates_its_schedule(vms_vault):
    policy = policies.create_policy(vms_vault, DAILY)
    policies.update_policy(policy, DAILY | {"frequency": "weekly", "days_of_week": [0, 6], "daily_retention_days": None,
                                            "weekly_retention_weeks": 12, "time_of_day": "01:00"})
    task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
    assert PeriodicTask.objects.filter(name__startswith="backup-policy-").count() == 1
    # Celery counts from Sunday = 0: Monday is 1, Sunday 0.
    assert (task.crontab.hour, task.crontab.day_of_week) == ("1", "1,0")


def test_deleting_a_policy_deletes_its_schedule(vms_vault):
    policy = policies.create_policy(vms_vault, DAILY)
    task_id = policy.periodic_task_id
    policies.delete_policy(policy)
    assert not BackupPolicy.objects.exists()
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


def test_a_policy_in_use_cannot_be_deleted_and_says_by_whom(alice, alpha, vms_vault):
    from backup.vms.services import protection, registration

    vm = make_vm(alpha, name="payroll-db", files=False)
    run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    policy = policies.create_policy(vms_vault, DAILY)
    run_jobs(protection.start_protection(vms_vault, [vm.pk], policy, alice))
    with pytest.raises(ValidationError) as error:
        policies.delete_policy(policy)
    assert "payroll-db" in error.value.messages[0]
    assert BackupPolicy.objects.filter(pk=policy.pk).exists()


def test_editing_a_policy_reconfigures_every_machine_it_protects(alice, alpha, vms_vault):
    from backup.jobs.models import Job, JobStatus, Operation
    from backup.vms.models import ProtectedItem
    from backup.vms.services import protection, registration

    vm = make_vm(alpha, name="payroll-db", files=False)
    run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    policy = policies.create_policy(vms_vault, DAILY)
    run_jobs(protection.start_protection(vms_vault, [vm.pk], policy, alice))

    policies.update_policy(policy, DAILY | {"daily_retention_days": 60}, user=alice)

    vm_jobs = Job.objects.filter(operation=Operation.CONFIGURE_PROTECTION, item_id=vm.pk).order_by("pk")
    assert vm_jobs.count() == 2
    [job] = run_jobs(vm_jobs.last())
    assert job.params["reconfigure"] is True
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert ProtectedItem.objects.get(vm=vm).policy == policy


def test_every_active_vault_gets_one_default_policy(alpha):
    vault = make_vault(alpha)
    first = policies.ensure_default_policy(vault)
    assert policies.ensure_default_policy(vault) is None
    assert (first.name, first.time_of_day, first.timezone, first.daily_retention_days) == (
        "DefaultPolicy", time(22, 0), "UTC", 30)
    assert first.periodic_task is not None
    creating = make_vault(alpha, status=Vault.Status.CREATING)
    assert policies.ensure_default_policy(creating) is None


def test_policies_page_shows_the_default_policy_the_vault_was_created_with(alice_client, alice, alpha, settings,
                                                                          tmp_path):
    settings.VAULT_STORAGE_ROOT = tmp_path
    vault = vault_services.create_vault(user=alice, subscription=alpha, name="Payroll", region="West US")
    run_jobs(Job.objects.get(operation=Operation.CREATE_VAULT, vault_id=vault.pk))
    policy = BackupPolicy.objects.get(vault=vault)  # made with the vault, before any page was opened
    assert policy.name == "DefaultPolicy" and policy.periodic_task is not None
    text = alice_client.get(reverse("vault-policies", args=[vault.pk])).content.decode()
    assert "DefaultPolicy" in text and "Daily at 22:00 (UTC)" in text and "Daily: 30 days" in text
    assert BackupPolicy.objects.filter(vault=vault).count() == 1


def test_policy_form_shows_the_range_at_the_field(alice_client, vms_vault):
    r = alice_client.post(reverse("vault-policy-create", args=[vms_vault.pk]),
                          {"name": "Nightly", "frequency": "daily", "time_of_day": "22:00", "timezone": "UTC",
                           "daily_retention_days": "400"})
    text = r.content.decode()
    assert 'data-field="daily_retention_days"' in text and "1 to 366 days" in text
    assert not BackupPolicy.objects.exists()


def test_policy_form_creates_edits_and_deletes(alice_client, vms_vault):
    url = reverse("vault-policy-create", args=[vms_vault.pk])
    data = {"name": "Nightly", "frequency": "weekly", "days_of_week": ["6"], "time_of_day": "06:00",
            "timezone": "Europe/London", "weekly_retention_weeks": "104", "monthly_retention_months": "120"}
    r = alice_client.post(url, data, headers={"HX-Request": "true"})
    assert r["HX-Redirect"] == reverse("vault-policies", args=[vms_vault.pk])
    policy = BackupPolicy.objects.get()
    assert policy.monthly_retention_months == 120
    edit = reverse("vault-policy-edit", args=[vms_vault.pk, policy.pk])
    assert b'value="Nightly"' in alice_client.get(edit).content
    alice_client.post(edit, data | {"name": "Weekend"}, headers={"HX-Request": "true"})
    policy.refresh_from_db()
    assert policy.name == "Weekend"
    delete = reverse("vault-policy-delete", args=[vms_vault.pk, policy.pk])
    alice_client.post(delete, headers={"HX-Request": "true"})
    assert not BackupPolicy.objects.exists()


def test_policy_delete_dialog_refuses_while_in_use(alice, alice_client, alpha, vms_vault):
    from backup.vms.services import protection, registration

    vm = make_vm(alpha, name="payroll-db", files=False)
    run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    policy = policies.create_policy(vms_vault, DAILY)
    run_jobs(protection.start_protection(vms_vault, [vm.pk], policy, alice))
    r = alice_client.post(reverse("vault-policy-delete", args=[vms_vault.pk, policy.pk]))
    assert b"payroll-db" in r.content and b"cannot be deleted" in r.content
    assert BackupPolicy.objects.filter(pk=policy.pk).exists()
