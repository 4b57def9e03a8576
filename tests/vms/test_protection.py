"""PROTECT: a two-page wizard, one Configure Protection job per machine, one policy per machine."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backup.jobs.errors import ANOTHER_OPERATION_IN_PROGRESS
from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import BackupPolicy, ProtectedItem, RegisteredItem
from backup.vms.services import policies, protection, registration

from .helpers import make_service, make_vm, run_jobs

NEW_POLICY = {"name": "Weekly-Archive", "frequency": "weekly", "days_of_week": [6], "time_of_day": "06:00",
              "timezone": "UTC", "weekly_retention_weeks": 104, "yearly_retention_years": 10}


def registered_vm(user, vault, **fields):
    vm = make_vm(vault.subscription, files=False, **fields)
    [job] = run_jobs(registration.start_registration(vault, [vm.pk], user))
    assert job.status == JobStatus.COMPLETED, job.error_message
    return vm


def test_protecting_with_an_existing_policy_leaves_the_item_pending_initial_backup(alice, vms_vault):
    vm = registered_vm(alice, vms_vault, name="web01")
    policy = policies.ensure_default_policy(vms_vault)
    [job] = protection.start_protection(vms_vault, [vm.pk], policy, alice)
    assert (job.operation, job.lock_key, job.item_id) == (Operation.CONFIGURE_PROTECTION, f"vm:{vm.pk}", vm.pk)
    run_jobs(job)
    assert job.status == JobStatus.COMPLETED, job.error_message
    item = ProtectedItem.objects.get(vm=vm)
    assert (item.policy, item.status, item.vault) == (policy, ProtectedItem.Status.PENDING, vms_vault)
    assert item.get_status_display() == "Protected (pending initial backup)"


def test_protecting_with_a_new_policy_creates_it(alice, vms_vault):
    vm = registered_vm(alice, vms_vault)
    policy, jobs = protection.protect_with_new_policy(vms_vault, [vm.pk], NEW_POLICY, alice)
    run_jobs(jobs)
    assert ProtectedItem.objects.get(vm=vm).policy == policy
    assert policy.periodic_task is not None


def test_a_bad_new_policy_protects_nothing(alice, vms_vault):
    vm = registered_vm(alice, vms_vault)
    with pytest.raises(ValidationError) as error:
        protection.protect_with_new_policy(vms_vault, [vm.pk], NEW_POLICY | {"weekly_retention_weeks": 300}, alice)
    assert "1 to 260 weeks" in error.value.message_dict["weekly_retention_weeks"][0]
    assert not BackupPolicy.objects.exists() and not Job.objects.filter(operation="configure_protection").exists()


def test_a_machine_belongs_to_one_policy_at_a_time(alice, vms_vault):
    vm = registered_vm(alice, vms_vault, name="web01")
    default = policies.ensure_default_policy(vms_vault)
    run_jobs(protection.start_protection(vms_vault, [vm.pk], default, alice))
    other = policies.create_policy(vms_vault, NEW_POLICY)
    assert list(protection.protectable_items(vms_vault)) == []
    with pytest.raises(ValidationError) as error:
        protection.start_protection(vms_vault, [vm.pk], other, alice)
    assert "already protected by the policy 'DefaultPolicy'" in error.value.message_dict["vm_ids"][0]


def test_unregistered_and_other_region_machines_cannot_be_protected(alice, alpha, vms_vault):
    policy = policies.ensure_default_policy(vms_vault)
    unregistered = make_vm(alpha, files=False)
    far = make_vm(alpha, region="North Europe", files=False)
    RegisteredItem.objects.create(vault=vms_vault, vm=far, vm_name=far.name, cloud_service_name="x",
                                  status=RegisteredItem.Status.REGISTERED)
    assert list(protection.protectable_items(vms_vault)) == []
    for vm in (unregistered, far):
        with pytest.raises(ValidationError):
            protection.start_protection(vms_vault, [vm.pk], policy, alice)


def test_a_policy_of_another_vault_is_refused(alice, alpha, vms_vault):
    from .helpers import make_vault

    vm = registered_vm(alice, vms_vault)
    foreign = policies.ensure_default_policy(make_vault(alpha, name="Other"))
    with pytest.raises(ValidationError) as error:
        protection.start_protection(vms_vault, [vm.pk], foreign, alice)
    assert "policy_id" in error.value.message_dict


def test_protecting_while_another_operation_runs_on_the_item_fails_that_job(alice, vms_vault):
    vm = registered_vm(alice, vms_vault)
    policy = policies.ensure_default_policy(vms_vault)
    [first] = protection.start_protection(vms_vault, [vm.pk], policy, alice)
    [second] = protection.start_protection(vms_vault, [vm.pk], policy, alice)
    assert first.status == JobStatus.IN_PROGRESS
    assert second.status == JobStatus.FAILED and second.error_message == ANOTHER_OPERATION_IN_PROGRESS


def test_protect_wizard_walks_both_pages(alice, alice_client, alpha, vms_vault):
    policies.ensure_default_policy(vms_vault)  # as the vault's creation gave it; the page creates none
    web, app = make_service(alpha, name="contoso-web"), make_service(alpha, name="contoso-app")
    a = registered_vm(alice, vms_vault, name="web01", service=web)
    b = registered_vm(alice, vms_vault, name="web01", service=app)
    url = reverse("vault-protect", args=[vms_vault.pk])
    page1 = alice_client.get(url).content.decode()
    assert page1.count(">web01<") == 2 and "contoso-web" in page1 and "contoso-app" in page1
    r = alice_client.post(url, {"step": "2"})
    assert b"Choose at least one registered virtual machine" in r.content
    page2 = alice_client.post(url, {"step": "2", "vm": [a.pk, b.pk]}).content.decode()
    assert "DefaultPolicy" in page2 and "Daily: 30 days" in page2 and 'name="new-name"' in page2
    policy = BackupPolicy.objects.get(name="DefaultPolicy")
    r = alice_client.post(url, {"step": "3", "vm": [a.pk, b.pk], "mode": "existing", "policy": policy.pk},
                          headers={"HX-Request": "true"})
    assert r["HX-Redirect"] == reverse("vault-protected", args=[vms_vault.pk])
    run_jobs(list(Job.objects.filter(operation=Operation.CONFIGURE_PROTECTION)))
    assert ProtectedItem.objects.filter(status=ProtectedItem.Status.PENDING).count() == 2


def test_protect_wizard_shows_new_policy_errors_at_the_field(alice, alice_client, vms_vault):
    vm = registered_vm(alice, vms_vault)
    url = reverse("vault-protect", args=[vms_vault.pk])
    data = {"step": "3", "vm": [vm.pk], "mode": "new", "new-name": "Nightly", "new-frequency": "daily",
            "new-time_of_day": "22:00", "new-timezone": "UTC", "new-daily_retention_days": "0"}
    text = alice_client.post(url, data).content.decode()
    assert 'data-field="daily_retention_days"' in text and "1 to 366 days" in text
    r = alice_client.post(url, data | {"new-daily_retention_days": "7"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r["HX-Redirect"]
    assert BackupPolicy.objects.get(name="Nightly").daily_retention_days == 7


def test_protected_items_list_polls_while_protection_is_configured(alice, alice_client, vms_vault):
    vm = registered_vm(alice, vms_vault, name="web01")
    policy = policies.ensure_default_policy(vms_vault)
    [job] = protection.start_protection(vms_vault, [vm.pk], policy, alice)
    url = reverse("vault-protected", args=[vms_vault.pk])
    page = alice_client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in page and 'id="protected-items-form"' in page
    run_jobs(job)
    r = alice_client.get(url, headers={"HX-Request": "true"})
    assert r.status_code == 286
    text = r.content.decode()
    assert "Protected (pending initial backup)" in text and "DefaultPolicy" in text and 'name="item"' in text
