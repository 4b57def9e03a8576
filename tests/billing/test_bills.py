"""A month's bill from the daily records: prorated by day, priced by the sheet of each day."""

from datetime import date
from decimal import Decimal

import pytest

from backup.billing.admin import PriceSheetAdmin
from backup.billing.models import DailyUsage, PriceSheet
from backup.billing.months import Month
from backup.billing.services import compute_bill, month_history, recompute_month, vault_month_estimate
from backup.billing.services.usage import end_of
from backup.vaults.models import Vault

from .conftest import add_point, at, make_item, make_vault

JUNE = Month(2015, 6)


def _june_with_growth(vault):
    """47 GB (small) from June 1, 60 GB (medium) from June 16; 30 GB stored, then 36 GB."""
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 1)), pi_gb=47, logical_gb=47, stored_gb=30)
    add_point(item, at(date(2015, 6, 16), 0), pi_gb=60, logical_gb=60, stored_gb=6)
    recompute_month(JUNE, now=end_of(date(2015, 6, 30)))
    return item


def test_mid_month_size_change_is_prorated_by_day(alpha, vault):
    _june_with_growth(vault)
    line = compute_bill(alpha, JUNE).lines[0]
    assert line.billable_days == 30
    # 15 days at $5/month and 15 days at $10/month.
    assert line.instance_charge == Decimal("7.50")
    assert line.band_changed is True
    # (15 x 30 GB + 15 x 36 GB) / 30 days = 33 GB-month at $0.048 = $1.584.
    assert line.storage_gb_month == Decimal("33.000")
    assert line.storage_charge == Decimal("1.58")
    assert line.total == Decimal("9.08")
    # The logical size of the points is shown, not billed: (15 x 47 + 15 x 107) / 30 = 77.
    assert line.logical_gb_month == Decimal("77.000")


def test_locally_redundant_vault_pays_the_lrs_storage_rate(alpha):
    _june_with_growth(make_vault(alpha, "grs-vault"))
    _june_with_growth(make_vault(alpha, "lrs-vault", redundancy=Vault.Redundancy.LOCAL))
    bill = compute_bill(alpha, JUNE)
    by_vault = {group.vault_name: group.lines[0] for group in bill.vaults}
    assert by_vault["grs-vault"].storage_charge == Decimal("1.58")
    assert by_vault["lrs-vault"].storage_charge == Decimal("0.79")
    assert by_vault["lrs-vault"].instance_charge == Decimal("7.50")
    assert bill.total == Decimal("7.50") * 2 + Decimal("1.58") + Decimal("0.79")


def test_item_billed_part_of_the_month_pays_for_its_billable_days_only(alpha, vault):
    item = make_item(vault, protected_on=date(2015, 6, 1))
    add_point(item, at(date(2015, 6, 21)), pi_gb=10, stored_gb=3)
    recompute_month(JUNE, now=end_of(date(2015, 6, 30)))
    line = compute_bill(alpha, JUNE).lines[0]
    assert (line.recorded_days, line.billable_days) == (30, 10)
    assert line.instance_charge == Decimal("1.67")  # $5 x 10 / 30
    assert line.storage_gb_month == Decimal("1.000")  # 10 days x 3 GB / 30


def test_a_new_price_sheet_does_not_change_earlier_months(alpha, vault):
    _june_with_growth(vault)
    before = compute_bill(alpha, JUNE)
    PriceSheet.objects.create(effective_from=date(2015, 7, 1), small_fee=Decimal("7"), medium_fee=Decimal("14"),
                              grs_storage_per_gb_month=Decimal("0.1"))
    after = compute_bill(alpha, JUNE)
    assert after.total == before.total == Decimal("9.08")
    recompute_month(Month(2015, 7), now=end_of(date(2015, 7, 31)))
    july = compute_bill(alpha, Month(2015, 7)).lines[0]
    assert july.instance_charge == Decimal("14.00")  # 60 GB all July, the new medium fee


def test_a_price_sheet_starting_mid_month_prices_only_its_own_days(alpha, vault):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 1)), pi_gb=10, stored_gb=0)
    PriceSheet.objects.create(effective_from=date(2015, 6, 16), small_fee=Decimal("8"))
    recompute_month(JUNE, now=end_of(date(2015, 6, 30)))
    bill = compute_bill(alpha, JUNE)
    assert bill.lines[0].instance_charge == Decimal("6.50")  # 15 x 5/30 + 15 x 8/30
    assert [sheet.effective_from for sheet in bill.sheets] == [date(2015, 4, 1), date(2015, 6, 16)]


def test_price_sheet_in_force_cannot_be_edited_in_the_admin(rf, admin_user, db):
    from django.contrib.admin.sites import site

    request = rf.get("/")
    request.user = admin_user
    admin = PriceSheetAdmin(PriceSheet, site)
    in_force = PriceSheet.objects.get(effective_from="2015-04-01")
    future = PriceSheet.objects.create(effective_from=date(2999, 1, 1))
    assert admin.has_change_permission(request, in_force) is False
    assert admin.has_change_permission(request, future) is True


def test_bill_of_another_subscription_is_empty(beta, vault):
    _june_with_growth(vault)
    assert compute_bill(beta, JUNE).lines == []


def test_history_gives_six_months_ending_with_the_selected_one(alpha, vault):
    _june_with_growth(vault)
    bars = month_history(alpha, JUNE)
    assert [str(bar.month) for bar in bars] == ["2015-01", "2015-02", "2015-03", "2015-04", "2015-05", "2015-06"]
    assert bars[-1].selected and bars[-1].total == Decimal("9.08") and bars[-1].height == 150
    assert bars[0].height == 0


@pytest.mark.parametrize("day", [date(2015, 6, 10)])
def test_vault_estimate_projects_todays_usage_to_the_months_end(vault, day):
    item = make_item(vault)
    add_point(item, at(date(2015, 6, 1)), pi_gb=47, stored_gb=0)
    recompute_month(JUNE, now=at(day, 13))
    estimate = vault_month_estimate(vault, today=day)
    assert estimate.days_elapsed == 10
    assert estimate.to_date == Decimal("1.67")  # $5 x 10 / 30
    assert estimate.projected == Decimal("5.00")
    assert estimate.billable_items == 1
    assert DailyUsage.objects.count() == 10
