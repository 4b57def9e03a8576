"""DISCOVER: a Discovery job per vault at a time, finding the subscription's machines of the vault's region."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults.models import Vault
from backup.vms.models import RegisteredItem
from backup.vms.services import discovery

from .helpers import make_vault, make_vm, run_jobs


def test_discovery_finds_the_subscriptions_machines_of_the_vaults_region_only(alice, alpha, beta, vms_vault):
    here = make_vm(alpha, name="here", files=False)
    arm = make_vm(alpha, name="arm", deployment_model="resource_manager", files=False)
    make_vm(alpha, name="east", region="East US", files=False)
    make_vm(beta, name="beta-vm", files=False)
    [job] = run_jobs(discovery.start_discovery(vms_vault, alice))
    assert job.status == JobStatus.COMPLETED
    found = set(vms_vault.registered_items.values_list("vm_id", flat=True))
    assert found == {here.pk, arm.pk}
    assert set(vms_vault.registered_items.values_list("status", flat=True)) == {RegisteredItem.Status.NOT_REGISTERED}
    assert job.result["Virtual machines found"] == 2


def test_discovery_is_idempotent_and_forgets_machines_that_left(alice, alpha, vms_vault):
    vm = make_vm(alpha, files=False)
    discovery.discover(vms_vault)
    discovery.discover(vms_vault)
    assert vms_vault.registered_items.count() == 1
    vm.disks.all().delete()
    vm.delete()
    discovery.discover(vms_vault)
    assert vms_vault.registered_items.count() == 0


def test_only_one_discovery_runs_per_vault(alice, alpha, vms_vault):
    first = discovery.start_discovery(vms_vault, alice)
    second = discovery.start_discovery(vms_vault, alice)
    assert (first.operation, first.lock_key) == (Operation.DISCOVERY, f"discovery:vault:{vms_vault.pk}")
    assert first.status == JobStatus.IN_PROGRESS
    assert second.status == JobStatus.FAILED
    assert second.error_message == (
        "Failed to discover new items \u2013 Another Discovery operation is already in progress. "
        "Please wait until the current Discovery operation has completed.")
    other = make_vault(alpha, name="Other")
    assert discovery.start_discovery(other, alice).status == JobStatus.IN_PROGRESS


def test_a_vault_that_is_not_active_cannot_discover(alice, alpha):
    vault = make_vault(alpha, status=Vault.Status.CREATING)
    with pytest.raises(ValidationError):
        discovery.start_discovery(vault, alice)
    assert not Job.objects.exists()


def test_discover_button_starts_a_job_and_polls_until_it_ends(alice_client, alpha, vms_vault):
    make_vm(alpha, files=False)
    r = alice_client.post(reverse("vault-discover", args=[vms_vault.pk]), headers={"HX-Request": "true"})
    assert "refresh-toasts" in r["HX-Trigger"]
    assert b"Discovering virtual machines" in r.content and b'hx-trigger="every 2s"' in r.content
    run_jobs(Job.objects.get(operation=Operation.DISCOVERY))
    r = alice_client.get(reverse("vault-discovery-status", args=[vms_vault.pk]), headers={"HX-Request": "true"})
    assert r.status_code == 286
    assert b"1</strong> discovered virtual machine" in r.content


def test_a_second_discover_click_shows_the_products_error(alice_client, alpha, vms_vault):
    alice_client.post(reverse("vault-discover", args=[vms_vault.pk]), headers={"HX-Request": "true"})
    alice_client.post(reverse("vault-discover", args=[vms_vault.pk]), headers={"HX-Request": "true"})
    failed = Job.objects.get(status=JobStatus.FAILED)
    assert failed.error_message.startswith("Failed to discover new items \u2013 Another Discovery operation")
