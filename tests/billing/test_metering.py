"""Daily metering: when billing starts and ends, and that recorded days never change."""

from datetime import date

from backup.billing.models import DailyUsage
from backup.billing.months import Month
from backup.billing.services import meter_day, meter_usage, recompute_month
from backup.billing.services.pricing import GB
from backup.billing.services.usage import end_of
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem

from .conftest import add_point, at, make_item, make_vault

JUNE_10 = date(2015, 6, 10)


def _row(item, day=JUNE_10):
    return DailyUsage.objects.get(day=day, item_ref=item.registered_item_id)


def test_pending_item_is_recorded_but_not_billed_before_its_first_backup(vault):
    item = make_item(vault)
    meter_day(JUNE_10, now=end_of(JUNE_10))
    row = _row(item)
    assert row.billable is False
    assert row.recovery_points == 0


def test_failed_first_backup_bills_nothing(vault):
    item = make_item(vault)
    item.status = ProtectedItem.Status.BACKUP_FAILING
    item.last_backup_status = "failed"
    item.save()
    meter_day(JUNE_10, now=end_of(JUNE_10))
    assert _row(item).billable is False


def test_billing_starts_on_the_day_of_the_first_successful_backup(vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 11), 22), pi_gb=47, logical_gb=47, stored_gb=20)
    meter_day(JUNE_10, now=end_of(date(2015, 6, 11)))
    meter_day(date(2015, 6, 11), now=end_of(date(2015, 6, 11)))
    assert _row(item, JUNE_10).billable is False
    row = _row(item, date(2015, 6, 11))
    assert row.billable is True
    assert row.protected_instance_bytes == 47 * GB
    assert (row.band, row.logical_bytes, row.stored_bytes) == ("small", 47 * GB, 20 * GB)
    assert (row.vm_name, row.vault_name, row.redundancy) == ("vm-1", "vault-1", "geo")


def test_stop_protection_keeping_data_keeps_billing_at_the_last_backup_size(vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 1)), pi_gb=60)
    item.status = ProtectedItem.Status.STOPPED
    item.stopped_at = at(date(2015, 6, 5))
    item.save()
    meter_day(JUNE_10, now=end_of(JUNE_10))
    row = _row(item)
    assert row.billable is True
    assert row.protected_instance_bytes == 60 * GB
    assert row.band == "medium"
    assert row.item_status == "stopped"


def test_stop_protection_deleting_data_ends_billing_once_the_data_is_gone(vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 1)))
    meter_day(date(2015, 6, 9), now=end_of(date(2015, 6, 9)))
    # Delete data: the points go first, then the protected item itself.
    item.status = ProtectedItem.Status.STOPPED
    item.save()
    item.recovery_points.all().delete()
    meter_day(JUNE_10, now=end_of(JUNE_10))
    assert _row(item).billable is False
    registered_item_id = item.registered_item_id
    item.delete()
    meter_day(date(2015, 6, 11), now=end_of(date(2015, 6, 11)))
    assert not DailyUsage.objects.filter(day=date(2015, 6, 11)).exists()
    # The earlier record survives the item, with its names.
    kept = DailyUsage.objects.get(day=date(2015, 6, 9), item_ref=registered_item_id)
    assert (kept.billable, kept.vm_name) == (True, "vm-1")


def test_points_taken_after_the_day_do_not_count_for_it(vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 1)), stored_gb=10)
    add_point(item, at(date(2015, 6, 12)), stored_gb=5)
    meter_day(JUNE_10, now=end_of(date(2015, 6, 12)))
    assert (_row(item).recovery_points, _row(item).stored_bytes) == (1, 10 * GB)


def test_metering_twice_a_day_updates_todays_row_but_never_a_past_day(vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 9), 6), stored_gb=10)
    meter_usage(now=at(date(2015, 6, 9), 8))
    add_point(item, at(date(2015, 6, 9), 20), stored_gb=3)
    meter_usage(now=at(date(2015, 6, 9), 21))
    assert DailyUsage.objects.filter(item_ref=item.registered_item_id, day=date(2015, 6, 9)).count() == 1
    assert _row(item, date(2015, 6, 9)).stored_bytes == 13 * GB

    add_point(item, at(JUNE_10, 1), stored_gb=4)
    meter_usage(now=at(JUNE_10, 2))
    assert _row(item, date(2015, 6, 9)).stored_bytes == 13 * GB
    assert _row(item).stored_bytes == 17 * GB


def test_metering_fills_yesterday_when_a_run_was_missed(vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 8)))
    meter_usage(now=at(JUNE_10, 3))
    assert _row(item, date(2015, 6, 9)).billable is True
    assert _row(item).billable is True


def test_recompute_month_fills_only_missing_days(vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 1)), stored_gb=10)
    meter_day(date(2015, 6, 2), now=end_of(date(2015, 6, 2)))
    DailyUsage.objects.filter(day=date(2015, 6, 2)).update(stored_bytes=1)  # what was recorded then
    written = recompute_month(Month(2015, 6), now=end_of(date(2015, 6, 30)))
    assert written == 29
    assert DailyUsage.objects.filter(item_ref=item.registered_item_id).count() == 30
    assert _row(item, date(2015, 6, 2)).stored_bytes == 1


def test_reprotected_item_still_counts_its_earlier_points_for_past_days(vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 1)))
    item.protected_at = at(date(2015, 6, 20))  # stopped with data kept, then protected again
    item.save()
    meter_day(JUNE_10, now=end_of(date(2015, 6, 25)))
    assert _row(item).billable is True


def test_a_geo_redundant_vault_without_its_second_copy_is_billed_for_one_copy(alpha):
    vault = make_vault(alpha, name="label-only")
    Vault.objects.filter(pk=vault.pk).update(secondary_region="", secondary_created_at=None)
    vault.refresh_from_db()
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 11), 22), pi_gb=47, logical_gb=47, stored_gb=20)
    meter_day(date(2015, 6, 11), now=end_of(date(2015, 6, 11)))
    assert _row(item, date(2015, 6, 11)).redundancy == "local"
