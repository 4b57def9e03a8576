"""Two portal hosts back up into one bucket: two real worker processes that share only PostgreSQL, the broker and
the bucket (each its own VAR_DIR, vault folder and store cache) run the backups of several machines of one vault
at once while a garbage collection runs; afterwards every point restores byte-identically and verify finds
nothing missing."""

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from backup.fabric.disks import Disk
from backup.jobs.models import JobStatus
from backup.vaults import services as vaults
from backup.vms.models import RecoveryPoint
from backup.vms.services import backup as backups
from backup.vms.services import operations
from tests.factories import make_vm, protect
from tests.faults.helpers import own_queue
from tests.vms.test_backup_worker import _final
from tests.worker import start_worker, stop_worker

from .restore_helpers import (
    clean_fabric,  # noqa: F401  (autouse)
    same_content,
)
from .test_bucket_worker import MiB, bucket_location, chunk_keys, done, quick_create, restored_disks, settled

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="two hosts share a database server: needs PostgreSQL (set DATABASE_URL to a private database)",
    ),
]

VMS = 4


def _host_env(var: Path, queue: str) -> dict:
    """What one host has of its own: its var folder (store cache) and vault folder."""
    env = {
        "VAR_DIR": str(var),
        "VAULT_STORAGE_ROOT": str(var / "vaults"),
        "FABRIC_ROOT": str(django_settings.FABRIC_ROOT),  # the hypervisors' disks, reached by every host
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "GC_GRACE_S": "0",
        "PYTHONPATH": str(django_settings.BASE_DIR),
    }
    folder_broker = getattr(django_settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("data_folder_in")
    if django_settings.CELERY_BROKER_URL.startswith("filesystem://") and folder_broker:
        env["CELERY_BROKER_DIR"] = str(Path(folder_broker).parent)
    return env


@pytest.fixture
def two_hosts(monkeypatch, tmp_path_factory):
    queue = f"{django_settings.CELERY_TASK_DEFAULT_QUEUE}-hosts"
    own_queue(monkeypatch, queue)
    logs = Path(django_settings.VAR_DIR) / "logs"
    hosts = []
    try:
        for name in ("a", "b"):
            env = _host_env(tmp_path_factory.mktemp(f"host-{name}"), queue)
            host = start_worker(f"host-{name}", logs, extra_env=env)
            host.var_dir = Path(env["VAR_DIR"])
            hosts.append(host)
        yield hosts
    finally:
        for host in hosts:
            stop_worker(host)


def _round(vault, items, alice) -> list[RecoveryPoint]:
    """Back up every item at once, with a garbage collection started among them."""
    jobs = [backups.back_up_now(item, alice) for item in items[: VMS // 2]]
    gc = operations.start_gc_now(vault, user=alice)  # it runs, or is postponed while the backups hold leases
    jobs += [backups.back_up_now(item, alice) for item in items[VMS // 2 :]]
    jobs = [done(job) for job in jobs]
    assert _final(gc, timeout=120).status == JobStatus.COMPLETED, gc.error_message
    settled(vault)
    return [RecoveryPoint.objects.get(point_id=f"job-{job.pk}") for job in jobs]


def test_two_hosts_back_up_into_one_bucket_at_once_without_loss(two_hosts, s3_server, alice, alpha, tmp_path):
    west = bucket_location(s3_server, "West US")
    bucket_location(s3_server, "East US")  # no copy in a host's own folder, even before it is dropped
    vault = quick_create(alice, alpha, "TwoHosts")
    vaults.set_redundancy(vault, "local")
    vms = [make_vm(alpha, name=f"host{n}", os_mib=6, data_mib=2, seed=40 + n) for n in range(VMS)]
    items = [protect(vault, vm) for vm in vms]

    expected: dict[str, dict[str, Path]] = {}
    for point in _round(vault, items, alice):
        disks = point.protected_item.vm.disks.exclude(kind="resource")
        expected[point.point_id] = {
            d.key: Disk.open(d.path).clone_to(tmp_path / f"{point.point_id}-{d.key}.vhd").path for d in disks
        }
    for n, vm in enumerate(vms[::2]):  # half the machines change before the second round (incrementals)
        Disk.open(vm.disks.get(kind="os").path).write((n + 1) * MiB, os.urandom(128 * 1024))
    for point in _round(vault, items, alice):
        expected[point.point_id] = {d.key: d.path for d in point.protected_item.vm.disks.exclude(kind="resource")}
    done(operations.start_gc_now(vault, user=alice))  # once more after them all, with nothing to spare

    for host in two_hosts:  # both hosts worked on the bucket, each with its own cache
        assert list((host.var_dir / "store-cache").glob("location-*/vault-*/manifests/*.json")), host.log_path
    points = RecoveryPoint.objects.filter(vault=vault).order_by("pk")
    assert sorted(p.point_id for p in points) == sorted(expected) and chunk_keys(s3_server, west, vault)
    verified = done(operations.start_verify(vault, user=alice))
    assert verified.result["points_checked"] == len(expected)
    for n, point in enumerate(points):
        for key, path in restored_disks(alice, point, f"hostr{n}").items():
            assert same_content(path, expected[point.point_id][key]), f"{point.vm_name} {key} of {point.point_id}"
