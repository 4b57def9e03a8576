import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from backup.billing.models import DailyUsage
from backup.jobs.models import Job, JobStatus, Operation, SubTask
from backup.notifications.services import notify
from backup.tenancy.services import issue_token
from backup.vms.models import CloudService, RecoveryPoint, StorageAccount, VirtualDisk, VirtualMachine
from tests.factories import make_policy, make_vault, protect


def _staff(username: str, group: str):
    # No password: the tests sign in with force_login, and hashing one costs a third of a second.
    user = get_user_model().objects.create_user(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator(db):
    return _staff("olga", "Operators")


@pytest.fixture
def support(db):
    return _staff("sam", "Support")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def support_client(client, support):
    client.force_login(support)
    return client


@pytest.fixture
def no_worker_ping(monkeypatch):
    """The overview pings the workers (up to a second); tests of the page do not need a broker."""
    monkeypatch.setattr("portal.ops.workers_alive", lambda timeout=1.0: ["worker@test"])


@pytest.fixture
def fleet(alice, alpha):
    """One row of every kind the admin lists: a protected item with its vault, VM and disks, a finished
    backup job with a sub-task, its recovery point, a usage record, a notification and an API token."""
    vault = make_vault(alpha, name="Payroll")
    account = StorageAccount.objects.create(subscription=alpha, name="payrollstore", region="West US")
    service = CloudService.objects.create(subscription=alpha, name="payroll-svc", region="West US")
    vm = VirtualMachine.objects.create(subscription=alpha, cloud_service=service, name="payroll-db")
    # Rows only: the admin never opens a disk image.
    VirtualDisk.objects.create(vm=vm, kind="os", storage_account=account, max_size=1 << 30)
    item = protect(vault, vm, make_policy(vault))
    job = Job.objects.create(subscription=alpha, operation=Operation.BACKUP, item_name=item.vm_name, item_type="vm",
                             item_id=item.vm_id, vault_id=item.vault_id, status=JobStatus.FAILED,
                             ended_at=timezone.now(), params={"protected_item_id": item.pk}, error_code="Boom",
                             lock_key=f"vm:{item.vm_id}")
    SubTask.objects.create(job=job, name="Take Snapshot", status=JobStatus.FAILED, ended_at=timezone.now())
    point = RecoveryPoint.objects.create(vault=item.vault, protected_item=item, registered_item=item.registered_item,
                                         vm_name=item.vm_name, point_id="job-1", created_at=timezone.now(),
                                         consistency="crash")
    DailyUsage.objects.create(day=timezone.now().date(), vault_ref=item.vault_id, item_ref=item.registered_item_id,
                              subscription=alpha, subscription_name=alpha.name, vault_name=item.vault.name,
                              vm_name=item.vm_name, cloud_service_name=item.cloud_service_name, redundancy="geo")
    notify(alice, "Backup job failed", subscription=alpha)
    issue_token(alice)
    return {"item": item, "job": job, "point": point, "vault": item.vault}

