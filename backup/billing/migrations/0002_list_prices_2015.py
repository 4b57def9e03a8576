from decimal import Decimal

from django.db import migrations

# The product's list prices from 1 April 2015. LRS storage at half the GRS rate
# is assumed, as the product's price list marks it.
LIST_PRICES_2015 = {
    "name": "Azure Backup list prices (April 2015)",
    "currency": "USD",
    "small_band_max_gb": 50,
    "medium_band_max_gb": 500,
    "large_unit_gb": 500,
    "small_fee": Decimal("5"),
    "medium_fee": Decimal("10"),
    "large_fee_per_unit": Decimal("10"),
    "grs_storage_per_gb_month": Decimal("0.048"),
    "lrs_storage_per_gb_month": Decimal("0.024"),
}


def add_list_prices(apps, schema_editor):
    PriceSheet = apps.get_model("billing", "PriceSheet")
    PriceSheet.objects.get_or_create(effective_from="2015-04-01", defaults=LIST_PRICES_2015)


def remove_list_prices(apps, schema_editor):
    apps.get_model("billing", "PriceSheet").objects.filter(effective_from="2015-04-01").delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_usage_and_price_sheets")]

    operations = [migrations.RunPython(add_list_prices, remove_list_prices)]
