"""A Garbage Collection job on a vault in a bucket, while a backup holds the store."""

from backup import engine
from backup.jobs import runner
from backup.jobs.models import JobStatus
from backup.vaults.models import StorageLocation
from backup.vms.services import gc
from tests.factories import make_vault


def test_gc_beside_a_running_backup_ends_completed_saying_nothing_was_freed(alpha, s3_server):
    location = StorageLocation.objects.create(
        name="bucket", region="West US", kind="bucket", bucket=s3_server.new_bucket(), prefix="portal",
        endpoint_url=s3_server.endpoint_url, path_style=True, credentials="stored", access_key_id="test",
        secret_access_key="test-secret",
    )  # fmt: skip
    vault = make_vault(alpha)
    vault.primary_location = location
    vault.save(update_fields=["primary_location"])
    store = engine.init_store(vault.store_location, vault.store_options)

    with store.lease("backup"):  # a backup on another host is writing
        job = gc.start_gc(vault)
        runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert ("Warning", gc.GC_POSTPONED) in job.properties
    assert job.result["postponed"] is True

    job = gc.start_gc(vault)
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and not job.result["postponed"]
    assert "warning" not in job.result
