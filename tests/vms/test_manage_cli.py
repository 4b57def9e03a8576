"""`manage.py backup restore` and `stop-protection` reach the restore and manage services."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backup.jobs.models import Job, Operation
from backup.vms.models import StorageAccount
from tests.factories import make_protected_item

from .restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
)


def backup(*args) -> str:
    out = io.StringIO()
    call_command("backup", "--user", "alice", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_cli_restores_disks_only_and_stops_protection(alice, alpha):
    item = make_protected_item(alpha, os_mib=0.25, data_mib=0.25, domain_controller=True, multi_dc_domain=True)
    point = back_up(item, alice)
    StorageAccount.objects.create(subscription=alpha, name="clisa", region="West US")
    with pytest.raises(CommandError, match="USN rollback"):
        backup("restore", "--point", str(point.pk), "--vm-name", "dc-r", "--cloud-service", "dc-r-cs",
               "--storage-account", "clisa")
    backup("restore", "--point", str(point.pk), "--storage-account", "clisa", "--disks-only")
    job = Job.objects.get(operation=Operation.RESTORE)
    assert job.params["disks_only"] and job.params["storage_account"] == "clisa"
    backup("stop-protection", "--item", str(item.pk), "--delete-data")
    assert Job.objects.get(operation=Operation.STOP_PROTECTION).params["delete_data"] is True
