"""The vault's storage fills up, or a chunk file rots on disk: the failure is explained, nothing half-written
becomes visible, and the other recovery points still restore. A real worker runs every job."""

import random
import re
import shutil
import subprocess

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError

from backup import engine
from backup.engine import fsutil
from backup.jobs.models import JobStatus
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem, RecoveryPoint
from backup.vms.services import backup as backups
from backup.vms.services import operations
from backup.vms.services import restore as restores
from tests.factories import make_protected_item, make_vault
from tests.faults.helpers import final, is_root

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _back_up(item, user):
    return final(backups.back_up_now(ProtectedItem.objects.get(pk=item.pk), user))


def _restore(point, user, name: str):
    account = point.protected_item.vm.disks.get(kind="os").storage_account
    return final(restores.start_restore(point, user=user, vm_name=name, create_cloud_service=True,
                                        cloud_service=f"cs-{name}-{random.randrange(10**6)}",
                                        storage_account=account.name))


@pytest.fixture
def small_vault(alpha):
    """A vault whose store lives on a 6 MB tmpfs (mounting needs root; skipped otherwise)."""
    if not is_root():
        pytest.skip("mounting a size-limited tmpfs for the vault needs root")
    vault = Vault.objects.create(subscription=alpha, name="tiny-vault", region="West US", status=Vault.Status.ACTIVE)
    shutil.rmtree(vault.store_path, ignore_errors=True)
    vault.store_path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(vault.store_path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount is not permitted here: {mounted.stderr.strip()}")
    try:
        engine.Store.init(vault.store_path)
        yield vault
    finally:
        subprocess.run(["umount", "-l", str(vault.store_path)], check=False)


def test_a_full_vault_fails_the_backup_clearly_and_keeps_earlier_points_restorable(celery_worker, alice, alpha,
                                                                                    small_vault):
    small = make_protected_item(alpha, small_vault, os_mib=1.5, data_mib=0.5, seed=11)
    big = make_protected_item(alpha, small_vault, os_mib=24, data_mib=8, seed=12)
    first = _back_up(small, alice)
    assert first.status == JobStatus.COMPLETED, first.error_message
    earlier = RecoveryPoint.objects.get(protected_item=small)

    failed = _back_up(big, alice)
    assert failed.status == JobStatus.FAILED
    assert failed.error_message.startswith(backups.STORE_FULL) and "vault storage is full" in failed.error_message
    assert failed.recommended_action == backups.STORE_FULL_ACTION
    # No half recovery point: not in the portal, not in the store, no temporary file left behind.
    assert not RecoveryPoint.objects.filter(protected_item=big).exists()
    store = engine.Store.open(small_vault.store_path)
    assert [m.point_id for m in store.list_manifests()] == [earlier.point_id]
    assert not [p for p in small_vault.store_path.rglob(f"{fsutil.TMP_PREFIX}*") if p.is_file()]
    assert engine.verify(store).ok

    restored = _restore(earlier, alice, "fromfull1")
    assert restored.status == JobStatus.COMPLETED, restored.error_message


def test_a_backup_too_big_for_the_vault_leaves_its_space_free_for_the_next_backups(celery_worker, alice, alpha,
                                                                                   small_vault):
    small = make_protected_item(alpha, small_vault, os_mib=1.5, data_mib=0.5, seed=31)
    assert _back_up(small, alice).status == JobStatus.COMPLETED
    store = engine.Store.open(small_vault.store_path)
    used = store.stats().stored_bytes
    big = make_protected_item(alpha, small_vault, os_mib=24, data_mib=8, seed=32)

    failed = _back_up(big, alice)
    assert failed.status == JobStatus.FAILED and failed.error_code == "VaultStorageFull"
    # The product's message, then the figures: what the backup needed, what is free.
    assert failed.error_message.startswith(backups.STORE_FULL + " ")
    figures = re.fullmatch(r"This backup needed up to ([\d.]+) MiB of new space; ([\d.]+) MiB is free\.",
                           failed.error_message[len(backups.STORE_FULL) + 1:])
    assert figures, failed.error_message
    needed, free = (float(x) for x in figures.groups())
    assert 6 < needed <= 33 and 0 < free < 6
    # The chunks only the failed backup had written are gone at once, without waiting for garbage collection...
    assert store.stats().stored_bytes == used
    assert not [p for p in small_vault.store_path.rglob(".*") if p.is_file()]
    assert not list((small_vault.store_path / "leases").iterdir())
    # ... so a backup that fits still runs right after it.
    other = make_protected_item(alpha, small_vault, os_mib=1.5, data_mib=0.5, seed=33)
    following = _back_up(other, alice)
    assert following.status == JobStatus.COMPLETED, following.error_message
    assert engine.verify(store).ok


@pytest.mark.parametrize("read_only", ["store", "chunks"])
def test_a_read_only_vault_store_fails_with_the_products_message_and_no_server_path(celery_worker, alice, alpha,
                                                                                    small_vault, read_only):
    item = make_protected_item(alpha, small_vault, os_mib=1.5, data_mib=0.5, seed=41)
    target = small_vault.store_path if read_only == "store" else small_vault.store_path / "chunks"
    if read_only == "chunks":
        subprocess.run(["mount", "--bind", str(target), str(target)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro" if read_only == "chunks" else "remount,ro", str(target)],
                   check=True)
    try:
        failed = _back_up(item, alice)
    finally:
        subprocess.run(["mount", "-o", "remount,rw" if read_only == "store" else "remount,bind,rw", str(target)],
                       check=False)
        if read_only == "chunks":
            subprocess.run(["umount", str(target)], check=False)
    assert failed.status == JobStatus.FAILED and failed.error_code == "VaultStoreUnavailable"
    assert failed.error_message == backups.VAULT_UNAVAILABLE
    assert failed.recommended_action == backups.VAULT_UNAVAILABLE_ACTION
    shown = " ".join([failed.error_message, failed.recommended_action, str(failed.result)]
                     + [s.name for s in failed.subtasks.all()])
    assert str(django_settings.VAULT_STORAGE_ROOT) not in shown and "lease" not in shown and "Errno" not in shown
    # Nothing left behind: no lease, no temporary file, no recovery point.
    assert not list((small_vault.store_path / "leases").iterdir())
    assert not [p for p in small_vault.store_path.rglob(f"{fsutil.TMP_PREFIX}*") if p.is_file()]
    assert not RecoveryPoint.objects.filter(protected_item=item).exists()


def test_a_corrupt_chunk_is_reported_by_verify_and_fails_only_the_restores_that_need_it(celery_worker, alice, alpha):
    vault = make_vault(alpha)
    healthy = make_protected_item(alpha, vault, os_mib=2, data_mib=1, seed=21)
    damaged = make_protected_item(alpha, vault, os_mib=2, data_mib=1, seed=22)
    for item in (healthy, damaged):
        assert _back_up(item, alice).status == JobStatus.COMPLETED
    good_point = RecoveryPoint.objects.get(protected_item=healthy)
    bad_point = RecoveryPoint.objects.get(protected_item=damaged)
    store = engine.Store.open(vault.store_path)
    manifest = store.load_manifest(bad_point.point_id)
    only_bad = manifest.chunk_hashes() - store.load_manifest(good_point.point_id).chunk_hashes()
    disk = next(d for d in manifest.disks if any(h in only_bad for h in d.chunks))
    victim = next(h for h in disk.chunks if h in only_bad)
    path = store.chunk_path(victim)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    # A restore meets it before any verify: it fails, saying which point and disk, and marks the point.
    broken = _restore(bad_point, alice, "broken1")
    assert broken.status == JobStatus.FAILED
    assert bad_point.point_id in broken.error_message and f"disk {disk.key}" in broken.error_message
    assert broken.recommended_action == restores.DAMAGED_ACTION
    bad_point.refresh_from_db()
    assert bad_point.is_damaged and bad_point.damaged_disks == [disk.key]

    report = engine.verify(store)
    assert [p.chunk_hash for p in report.corrupt] == [victim] and not report.ok
    verify_job = final(operations.start_verify(vault, user=alice))
    assert verify_job.status == JobStatus.FAILED and "damaged backup data" in verify_job.error_message

    # Known damaged now: the next restore is refused before it starts, naming the point and the disk.
    with pytest.raises(ValidationError) as refused:
        _restore(RecoveryPoint.objects.get(pk=bad_point.pk), alice, "broken2")
    message = " ".join(refused.value.messages)
    assert bad_point.point_id in message and f"disk {disk.key}" in message

    fine = _restore(good_point, alice, "fine1")
    assert fine.status == JobStatus.COMPLETED, fine.error_message
