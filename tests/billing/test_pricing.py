"""The product's price rules: the 47 GB example, the band edges, storage by redundancy."""

from decimal import Decimal

import pytest

from backup.billing.models import PriceSheet
from backup.billing.services.pricing import GB, band_for, monthly_fee, storage_rate
from backup.billing.services.usage import protected_instance_size


@pytest.fixture
def sheet(db):
    return PriceSheet.objects.get(effective_from="2015-04-01")


def test_seed_example_a2_vm_is_a_47_gb_protected_instance():
    disks = [("os", 17 * GB), ("resource", 5 * GB), ("data", 30 * GB), ("data", 0)]
    assert protected_instance_size(disks) == 47 * GB


def test_47_gb_instance_costs_the_small_fee(sheet):
    assert monthly_fee(band_for(47 * GB, sheet), sheet) == Decimal("5")


@pytest.mark.parametrize(
    ("size", "band", "fee"),
    [
        (0, "small", "5"),
        (50 * GB, "small", "5"),
        (50 * GB + 1, "medium", "10"),
        (500 * GB, "medium", "10"),
        (500 * GB + 1, "large", "20"),
        (1000 * GB, "large", "20"),
        (1000 * GB + 1, "large", "30"),
        (2000 * GB, "large", "40"),
    ],
)
def test_band_edges_are_inclusive_and_large_instances_pay_per_started_500_gb(sheet, size, band, fee):
    assert band_for(size, sheet).code == band
    assert monthly_fee(band_for(size, sheet), sheet) == Decimal(fee)


def test_default_price_sheet_holds_the_2015_list_prices(sheet):
    assert sheet.currency == "USD"
    assert (sheet.small_band_max_gb, sheet.medium_band_max_gb, sheet.large_unit_gb) == (50, 500, 500)
    assert storage_rate("geo", sheet) == Decimal("0.048")
    assert storage_rate("local", sheet) == Decimal("0.024")
