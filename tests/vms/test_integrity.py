"""Damaged recovery points as a user meets them (item page, restore wizard, API, CLI), healing, scheduled
verification choosing new and old points, and on-demand points counting up. Jobs run in this process."""

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from backup import engine
from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import RecoveryPoint, StorageAccount
from backup.vms.services import backup as backups
from backup.vms.services import integrity, operations, retention
from backup.vms.services import restore as restores
from portal import celery as portal_celery
from tests.factories import make_protected_item

from .helpers import run_jobs
from .restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
)


@pytest.fixture
def item(alpha, alice):
    item = make_protected_item(alpha, os_mib=0.5, data_mib=0.25)
    StorageAccount.objects.create(subscription=alpha, name="restoresa", region="West US")
    return item


def _store(item) -> engine.Store:
    return engine.Store.open(item.vault.store_path)


def _rot(point: RecoveryPoint, disk_key: str = "os") -> str:
    """Flip a byte of one of the point's chunks on `disk_key`, and verify the vault (it marks the damage)."""
    store = engine.Store.open(point.vault.store_path)
    victim = next(h for h in store.load_manifest(point.point_id).disk(disk_key).chunks if h)
    path = store.chunk_path(victim)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    job = run_jobs(operations.start_verify(point.vault))[0]
    assert job.status == JobStatus.FAILED and job.error_code == "BackupDataDamaged"
    return victim


def _item_page(client, item) -> str:
    return client.get(reverse("vault-protected-item", args=[item.vault_id, item.pk])).content.decode()


def test_the_item_page_shows_which_points_are_damaged_and_which_verified(alice_client, alice, item):
    healthy = back_up(item, alice)
    run_jobs(operations.start_verify(item.vault, point=healthy))
    page = _item_page(alice_client, item)
    assert "Verified " in page and 'id="item-damaged"' not in page

    _rot(healthy)

    page = _item_page(alice_client, item)
    assert 'id="item-damaged"' in page and "1 damaged recovery point" in page
    assert f'id="point-row-{healthy.pk}" class="point-damaged"' in page and "Damaged: disk os" in page
    listed = alice_client.get(reverse("vault-protected", args=[item.vault_id])).content.decode()
    assert "1 damaged" in listed


def test_the_restore_wizard_marks_a_damaged_point_and_refuses_it_naming_the_point_and_disk(alice_client, alice,
                                                                                           item):
    point = back_up(item, alice)
    _rot(point)
    url = reverse("vault-restore", args=[item.vault_id])

    first = alice_client.get(url, {"item": item.pk}).content.decode()
    assert 'id="newest-point-damaged"' in first and "Damaged: disk os" in first
    second = alice_client.post(url, {"item": item.pk, "step": "2", "mode": "newest"}).content.decode()
    assert 'id="restore-point-damaged"' in second and point.point_id in second
    response = alice_client.post(url, {"item": item.pk, "step": "3", "mode": "newest", "vm_name": "back1",
                                       "cs_mode": "new", "new_cloud_service": "back1-restored",
                                       "storage_account": "restoresa"})

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-field="point_id"' in page and f"recovery point {point.point_id}" in page and "disk os" in page
    assert not Job.objects.filter(operation=Operation.RESTORE).exists()


def test_the_api_lists_damage_and_verify_state_and_refuses_the_restore(client, alice, api_headers, item):
    point = back_up(item, alice)
    _rot(point)
    headers = api_headers(alice)

    listed = client.get(f"/api/v1/vaults/{item.vault_id}/recovery-points", headers=headers).json()
    assert listed[0]["damaged"] is True and listed[0]["damaged_disks"] == ["os"]
    assert listed[0]["verify_state"] == "failed" and listed[0]["verified_at"] and listed[0]["on_demand"] is True
    refused = client.post(f"/api/v1/protected-items/{item.pk}/restore", data=json.dumps(
        {"disks_only": True, "storage_account": "restoresa"}), content_type="application/json", headers=headers)
    assert refused.status_code == 400
    assert point.point_id in refused.content.decode() and "disk os" in refused.content.decode()


def test_a_restore_of_the_undamaged_disks_of_a_damaged_point_is_allowed(alice, item):
    point = back_up(item, alice)
    _rot(point, "os")
    job = run_jobs(restores.start_restore(RecoveryPoint.objects.get(pk=point.pk), user=alice, disks_only=True,
                                          storage_account="restoresa", disk_keys=["data-0"]))[0]
    assert job.status == JobStatus.COMPLETED, job.error_message


def test_the_cli_point_list_shows_the_same_per_point_state(alice, item):
    point = back_up(item, alice)
    out = io.StringIO()
    call_command("backup", "--user", "alice", "point", "list", "--vault", str(item.vault_id), stdout=out)
    assert "not verified" in out.getvalue()
    call_command("backup", "--user", "alice", "verify", "--point", str(point.pk), stdout=io.StringIO())
    run_jobs(list(Job.objects.filter(operation=Operation.VERIFY, status=JobStatus.IN_PROGRESS)))
    out = io.StringIO()
    call_command("backup", "--user", "alice", "point", "list", "--vault", str(item.vault_id), stdout=out)
    assert "verified" in out.getvalue() and "not verified" not in out.getvalue()
    _rot(point)
    out = io.StringIO()
    call_command("backup", "--user", "alice", "point", "list", "--vault", str(item.vault_id), stdout=out)
    assert "damaged: os" in out.getvalue()


def test_a_backup_that_rewrites_the_chunk_heals_the_point_at_its_prune(alice, item):
    point = back_up(item, alice)
    victim = _rot(point)
    assert RecoveryPoint.objects.get(pk=point.pk).is_damaged

    again = back_up(item, alice)
    retention.prune_item(item.pk)

    point.refresh_from_db()
    assert not point.is_damaged and point.damaged_chunks == [] and point.verify_state == ""
    assert _store(item).read_chunk(victim) and not again.is_damaged


def test_verifying_one_point_marks_every_point_sharing_its_bad_chunk(alice, item):
    older = back_up(item, alice)
    newer = back_up(item, alice)  # nothing changed: it shares every chunk with the older point
    store = _store(item)
    victim = next(h for h in store.load_manifest(newer.point_id).disk("os").chunks if h)
    path = store.chunk_path(victim)
    path.write_bytes(path.read_bytes()[:-1] + b"?")

    run_jobs(operations.start_verify(item.vault, point=newer))

    for point in (older, newer):
        point.refresh_from_db()
        assert point.is_damaged and point.damaged_disks == ["os"]
    assert older.verify_state == "" and newer.verify_state == "failed"  # only the newer one was verified


def test_a_damaged_point_stays_marked_until_its_chunk_reads_back_sound(alice, item):
    point = back_up(item, alice)
    victim = _rot(point)
    assert integrity.heal(item.vault, _store(item)) == []
    assert RecoveryPoint.objects.get(pk=point.pk).damaged_chunks == [
        {"disk": "os", "chunk": victim, "kind": "corrupt"}]


# -- Scheduled verification ------------------------------------------------------------------------
def test_beat_verifies_new_points_daily_and_old_points_weekly():
    daily = settings.CELERY_BEAT_SCHEDULE["verify-new-points"]
    weekly = settings.CELERY_BEAT_SCHEDULE["reverify-old-points"]
    assert daily["schedule"].day_of_week == set(range(7)) and len(weekly["schedule"].day_of_week) == 1
    portal_celery.app.loader.import_default_modules()  # what a worker does at start (autodiscovery)
    assert {daily["task"], weekly["task"]} <= set(portal_celery.app.tasks)
    assert settings.VERIFY_REVERIFY_AFTER_DAYS == 30


def test_the_daily_verification_checks_only_points_never_verified(alice, item):
    verified = back_up(item, alice)
    run_jobs(operations.start_verify(item.vault, point=verified))
    new = back_up(item, alice)

    jobs = operations.start_scheduled_verifies(operations.SCOPE_NEW)

    assert [(j.vault_id, j.params["point_ids"], j.scheduled) for j in jobs] == [(item.vault_id, [new.point_id], True)]
    job = run_jobs(jobs)[0]
    assert job.status == JobStatus.COMPLETED and job.operation == Operation.VERIFY
    new.refresh_from_db()
    assert new.verify_state == "ok" and new.verified_at is not None
    assert operations.start_scheduled_verifies(operations.SCOPE_NEW) == []  # nothing new any more


def test_the_weekly_verification_rechecks_points_verified_longer_ago_than_the_setting(alice, item, settings):
    stale, fresh, never_old = back_up(item, alice), back_up(item, alice), back_up(item, alice)
    now = timezone.now()
    RecoveryPoint.objects.filter(pk=stale.pk).update(verify_state="ok", verified_at=now - timedelta(days=31))
    RecoveryPoint.objects.filter(pk=fresh.pk).update(verify_state="ok", verified_at=now - timedelta(days=29))
    RecoveryPoint.objects.filter(pk=never_old.pk).update(created_at=now - timedelta(days=40))

    [job] = operations.start_scheduled_verifies(operations.SCOPE_OLD)

    assert sorted(job.params["point_ids"]) == sorted([stale.point_id, never_old.point_id])
    run_jobs(job)
    stale.refresh_from_db()
    assert stale.verified_at > now - timedelta(minutes=5)
    settings.VERIFY_REVERIFY_AFTER_DAYS = 7
    RecoveryPoint.objects.filter(pk=fresh.pk).update(verified_at=now - timedelta(days=8))
    [job] = operations.start_scheduled_verifies(operations.SCOPE_OLD)
    assert job.params["point_ids"] == [fresh.point_id]


def test_a_scheduled_verification_skips_a_point_pruned_since_it_was_queued(alice, item):
    gone, kept = back_up(item, alice), back_up(item, alice)
    [job] = operations.start_scheduled_verifies(operations.SCOPE_NEW)
    engine.prune(_store(item), [gone.point_id])
    gone.delete()

    assert run_jobs(job)[0].status == JobStatus.COMPLETED
    assert RecoveryPoint.objects.get(pk=kept.pk).verify_state == "ok"


# -- On-demand points ------------------------------------------------------------------------------
def test_every_on_demand_backup_adds_a_point_even_on_the_same_day(alice, item):
    counts = []
    for _ in range(3):
        back_up(item, alice)
        retention.prune_item(item.pk)
        counts.append(item.recovery_points.count())
    assert counts == [1, 2, 3]
    assert all(item.recovery_points.values_list("on_demand", flat=True))


def test_scheduled_points_of_one_day_still_keep_only_the_newest(alice, item):
    on_demand = back_up(item, alice)
    scheduled = [run_jobs(backups.run_scheduled_backups(item.policy_id))[0] for _ in range(2)]
    retention.prune_item(item.pk)
    kept = set(item.recovery_points.values_list("point_id", flat=True))
    assert kept == {on_demand.point_id, backups.point_id_for(scheduled[1])}
    assert not RecoveryPoint.objects.get(point_id=backups.point_id_for(scheduled[1])).on_demand


def test_a_restore_queued_before_the_damage_was_found_fails_at_its_start_naming_the_point(alice, item):
    point = back_up(item, alice)
    queued = restores.start_restore(point, user=alice, disks_only=True, storage_account="restoresa")
    _rot(point)

    job = run_jobs(queued)[0]

    assert job.status == JobStatus.FAILED and job.error_code == "RecoveryPointDamaged"
    assert point.point_id in job.error_message and "disk os" in job.error_message
    assert job.recommended_action == restores.DAMAGED_ACTION
