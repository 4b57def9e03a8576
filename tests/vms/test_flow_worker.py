"""Discover -> Register -> Protect, run by a real Celery worker."""

import pytest

from backup.jobs.models import Job, JobStatus, Operation
from backup.notifications.models import Notification
from backup.vms.models import ProtectedItem, RegisteredItem
from backup.vms.services import discovery, policies, protection, registration
from tests.worker import wait_for

from .helpers import make_vault, make_vm


def _final(job: Job) -> Job:
    def done():
        job.refresh_from_db()
        return not job.is_active

    wait_for(done, timeout=60, message=f"{job.get_operation_display()} job to end")
    assert job.status == JobStatus.COMPLETED, job.error_message
    return job


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_discovers_registers_and_protects_a_machine(celery_worker, alice, alpha):
    vault = make_vault(alpha, name="Payroll")
    vm = make_vm(alpha, name="web01")

    _final(discovery.start_discovery(vault, alice))
    assert [i.vm_id for i in registration.registrable_items(vault)] == [vm.pk]

    [register] = registration.start_registration(vault, [vm.pk], alice)
    _final(register)
    assert RegisteredItem.objects.get(vault=vault, vm=vm).status == RegisteredItem.Status.REGISTERED
    vault.refresh_from_db()
    assert vault.redundancy_locked

    policy = policies.ensure_default_policy(vault)
    [configure] = protection.start_protection(vault, [vm.pk], policy, alice)
    assert configure.operation == Operation.CONFIGURE_PROTECTION
    _final(configure)
    item = ProtectedItem.objects.get(vm=vm)
    assert item.get_status_display() == "Protected (pending initial backup)"
    assert item.policy == policy
    titles = set(Notification.objects.filter(user=alice).values_list("title", flat=True))
    assert "Discovery job for 'Payroll' completed" in titles
    assert f"Register job for 'web01 ({vm.cloud_service.name})' completed" in titles
