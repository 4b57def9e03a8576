"""A chunk rots in the vault after the backup that wrote it: Verify finds it, the points that need it are shown
damaged and refuse to restore, the next backup rewrites it, and no retention ever leaves an item with only
unrestorable points. A real worker runs every job."""

import os
import random

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backup import engine
from backup.fabric.disks import Disk
from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import ProtectedItem, RecoveryPoint
from backup.vms.services import backup as backups
from backup.vms.services import operations, retention
from backup.vms.services import restore as restores
from tests.factories import make_protected_item, make_vault
from tests.faults.helpers import final
from tests.vms.restore_helpers import same_content

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _backed_up(item, user) -> RecoveryPoint:
    job = final(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), user))
    assert job.status == JobStatus.COMPLETED, job.error_message
    for prune in Job.objects.filter(operation=Operation.PRUNE, params__protected_item_id=item.pk):
        assert final(prune).status == JobStatus.COMPLETED, prune.error_message
    return RecoveryPoint.objects.get(point_id=backups.point_id_for(job), vault_id=item.vault_id)


def _disks(item) -> dict[str, Disk]:
    return {d.key: Disk.open(d.path) for d in item.vm.disks.exclude(kind="resource")}


def _keep_copies(item, folder, tag: str) -> dict[str, os.PathLike]:
    return {key: disk.clone_to(folder / f"{tag}-{key}.vhd").path for key, disk in _disks(item).items()}


def _flip_a_byte(store: engine.Store, chunk_hash: str) -> None:
    path = store.chunk_path(chunk_hash)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _only_in(store, point, *others) -> tuple[str, str]:
    """(disk key, chunk) of a chunk `point` references and none of `others` does."""
    theirs = set().union(*(store.load_manifest(o.point_id).chunk_hashes() for o in others))
    for disk in store.load_manifest(point.point_id).disks:
        for h in disk.chunks:
            if h is not None and h not in theirs:
                return disk.key, h
    raise AssertionError("no chunk of its own")


def _restores_as(store, point, expected: dict, folder) -> bool:
    targets = {key: folder / f"restored-{point.point_id}-{key}.vhd" for key in expected}
    engine.restore_point(store, point.point_id, targets)
    return all(same_content(targets[key], expected[key]) for key in expected)


def test_a_rotten_chunk_found_by_verify_is_rewritten_by_the_next_backup_and_no_point_is_lost(
        celery_worker, alice, alpha, client, tmp_path):
    vault = make_vault(alpha)
    item = make_protected_item(alpha, vault, os_mib=2, data_mib=1, seed=41)
    twin = make_protected_item(alpha, vault, os_mib=2, data_mib=1, seed=41)  # another VM, same data: dedup
    older = _backed_up(item, alice)
    at_older = _keep_copies(item, tmp_path, "older")
    new_data = random.Random(5).randbytes(300 * 1024)
    _disks(item)["data-0"].write(512 * 1024, new_data)  # in the newest point only (and in the twin's)
    newest = _backed_up(item, alice)
    at_newest = _keep_copies(item, tmp_path, "newest")
    _disks(twin)["data-0"].write(512 * 1024, new_data)
    twin_point = _backed_up(twin, alice)
    at_twin = _keep_copies(twin, tmp_path, "twin")
    store = engine.Store.open(vault.store_path)
    disk_key, victim = _only_in(store, newest, older)
    assert victim in store.load_manifest(twin_point.point_id).chunk_hashes()
    _flip_a_byte(store, victim)

    verify = final(operations.start_verify(vault, user=alice))

    assert verify.status == JobStatus.FAILED and "damaged backup data" in verify.error_message
    newest.refresh_from_db()
    older.refresh_from_db()
    assert newest.is_damaged and newest.damaged_disks == [disk_key] and newest.verify_state == "failed"
    assert RecoveryPoint.objects.get(pk=twin_point.pk).is_damaged  # the other VM sharing the chunk too
    assert not older.is_damaged and older.verify_state == "ok" and older.verified_at is not None
    assert len(store.quarantined(victim)) == 1 and not store.chunk_path(victim).exists()
    # The portal says so: the item page and a refused restore, naming the point and the disk.
    client.force_login(alice)
    page = client.get(reverse("vault-protected-item", args=[vault.pk, item.pk])).content.decode()
    assert 'id="item-damaged"' in page and f"Damaged: disk {disk_key}" in page
    with pytest.raises(ValidationError) as refused:
        restores.start_restore(newest, user=alice, disks_only=True, storage_account=_account(item))
    assert newest.point_id in str(refused.value) and f"disk {disk_key}" in str(refused.value)

    again = _backed_up(item, alice)

    # The backup re-read the data instead of trusting the quarantined reference: the chunk is back, sound,
    # and the point that needed it heals (the name is the hash).
    assert store.chunk_path(victim).exists() and engine.verify(store).ok
    newest.refresh_from_db()
    assert not newest.is_damaged and not RecoveryPoint.objects.get(pk=twin_point.pk).is_damaged
    # Nothing was expired for being "older on the same day": three on-demand backups, three points.
    assert list(item.recovery_points.order_by("created_at")) == [older, newest, again]
    assert _restores_as(store, older, at_older, tmp_path)
    assert _restores_as(store, newest, at_newest, tmp_path)
    assert _restores_as(store, again, at_newest, tmp_path)
    assert _restores_as(store, twin_point, at_twin, tmp_path)


def test_retention_keeps_the_last_intact_point_while_newer_ones_are_damaged_for_good(
        celery_worker, alice, alpha, tmp_path):
    vault = make_vault(alpha)
    item = make_protected_item(alpha, vault, os_mib=2, data_mib=1, seed=43)
    older = _backed_up(item, alice)
    at_older = _keep_copies(item, tmp_path, "older")
    data = _disks(item)["data-0"]
    data.write(512 * 1024, random.Random(6).randbytes(300 * 1024))
    newest = _backed_up(item, alice)
    store = engine.Store.open(vault.store_path)
    _, victim = _only_in(store, newest, older)
    _flip_a_byte(store, victim)
    assert final(operations.start_verify(vault, user=alice)).status == JobStatus.FAILED
    # The guest overwrites that data: no backup can bring the chunk back.
    data.write(512 * 1024, random.Random(7).randbytes(300 * 1024))
    # Retention as tight as it gets, on scheduled points: the daily rule alone would keep only the newest.
    item.policy.daily_retention_days = 1
    item.policy.save()
    RecoveryPoint.objects.filter(pk__in=[older.pk, newest.pk]).update(on_demand=False)

    prune = final(retention.start_prune(ProtectedItem.objects.get(pk=item.pk)))

    assert prune.status == JobStatus.COMPLETED, prune.error_message
    assert set(item.recovery_points.values_list("point_id", flat=True)) == {older.point_id, newest.point_id}
    assert _restores_as(store, older, at_older, tmp_path)

    again = _backed_up(item, alice)

    # A new intact point exists now; the damaged one stays marked, since its data is gone for good.
    now = _keep_copies(item, tmp_path, "now")
    newest.refresh_from_db()
    assert newest.is_damaged and not RecoveryPoint.objects.get(pk=again.pk).is_damaged
    assert _restores_as(store, again, now, tmp_path)


def test_a_restore_that_meets_a_rotten_chunk_marks_every_point_sharing_it(celery_worker, alice, alpha):
    vault = make_vault(alpha)
    item = make_protected_item(alpha, vault, os_mib=2, data_mib=1, seed=44)
    first = _backed_up(item, alice)
    second = _backed_up(item, alice)  # nothing changed: every chunk shared with the first point
    store = engine.Store.open(vault.store_path)
    disk_key, victim = next((d.key, h) for d in store.load_manifest(first.point_id).disks for h in d.chunks if h)
    _flip_a_byte(store, victim)

    job = final(restores.start_restore(second, user=alice, disks_only=True, storage_account=_account(item)))

    assert job.status == JobStatus.FAILED and f"disk {disk_key}" in job.error_message
    for point in (first, second):
        point.refresh_from_db()
        assert point.is_damaged and point.damaged_disks == [disk_key]
    assert len(store.quarantined(victim)) == 1


def _account(item) -> str:
    return item.vm.disks.get(kind="os").storage_account.name
