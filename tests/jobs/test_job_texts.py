"""What a job shows its user never names a server path, whatever the handler raised."""

import errno

import pytest
from django.conf import settings

from backup.jobs import errors, registry, runner
from backup.jobs import services as jobs
from backup.jobs.locks import Subject
from backup.jobs.models import Job, JobStatus, Operation


@pytest.fixture
def failing_discovery(monkeypatch):
    def install(exc: BaseException):
        def handler(ctx):
            raise exc

        monkeypatch.setitem(registry.HANDLERS, Operation.DISCOVERY, handler)

    return install


def _start(subscription) -> Job:
    return jobs.start(subscription=subscription, operation=Operation.DISCOVERY, subject=Subject(item_name="Payroll"))


@pytest.mark.django_db
@pytest.mark.parametrize("exc", [
    OSError(errno.EROFS, "Read-only file system", f"{settings.VAULT_STORAGE_ROOT}/vault-1/leases/x.lease"),
    ValueError(f"{settings.FABRIC_ROOT}/accounts/sa-1/os.vhd is not a disk"),
], ids=["oserror", "valueerror"])
def test_an_unexpected_error_shows_the_operations_internal_error_without_its_text(alpha, failing_discovery, exc):
    failing_discovery(exc)
    job = _start(alpha)
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "InternalError"
    assert job.error_message == f"{errors.DISCOVERY_INTERNAL_ERROR} ({type(exc).__name__})"
    assert "/" not in job.error_message


def test_describe_gives_the_reason_and_leaves_paths_out():
    assert errors.describe(OSError(errno.EACCES, "Permission denied", "/srv/vaults/vault-3")) == "Permission denied"
    assert errors.describe(ValueError("/srv/vaults/vault-3 is not a vault store")) == (
        "(server path) is not a vault store")
    assert errors.describe(ValueError("corrupt chunk ab12 in recovery point job-3, disk os")) == (
        "corrupt chunk ab12 in recovery point job-3, disk os")
