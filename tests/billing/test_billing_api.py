"""GET /api/v1/subscriptions/{id}/usage and /bills/{YYYY-MM}."""

from datetime import date

from backup.billing.months import Month
from backup.billing.services import recompute_month
from backup.billing.services.pricing import GB
from backup.billing.services.usage import end_of

from .conftest import add_point, at, make_item


def _billed_june(vault):
    item = make_item(vault, vm_name="web-1")
    add_point(item, at(date(2015, 6, 1)), pi_gb=47, logical_gb=47, stored_gb=30)
    recompute_month(Month(2015, 6), now=end_of(date(2015, 6, 30)))
    return item


def test_usage_lists_the_daily_records_of_the_month(client, alice, alpha, vault, api_headers):
    item = _billed_june(vault)
    r = client.get(f"/api/v1/subscriptions/{alpha.pk}/usage", {"month": "2015-06"}, headers=api_headers(alice))
    assert r.status_code == 200
    rows = r.json()
    assert len(rows) == 30
    assert rows[0] == {
        "day": "2015-06-01", "vault_id": vault.pk, "vault_name": "vault-1", "item_id": item.registered_item_id,
        "vm_name": "web-1", "cloud_service_name": "web-1-cs", "item_status": "protected", "billable": True,
        "protected_instance_bytes": 47 * GB, "band": "small", "large_units": 0, "recovery_points": 1,
        "logical_bytes": 47 * GB, "stored_bytes": 30 * GB, "redundancy": "geo",
    }


def test_bill_gives_lines_and_totals(client, alice, alpha, vault, api_headers):
    _billed_june(vault)
    r = client.get(f"/api/v1/subscriptions/{alpha.pk}/bills/2015-06", headers=api_headers(alice))
    assert r.status_code == 200
    bill = r.json()
    assert (bill["month"], bill["days_in_month"], bill["currency"]) == ("2015-06", 30, "USD")
    assert (bill["gb_bytes"], bill["storage_billed_on"]) == (GB, "stored_bytes")
    assert (bill["instance_total"], bill["storage_total"], bill["total"]) == ("5.00", "1.44", "6.44")
    line = bill["lines"][0]
    assert (line["vm_name"], line["billable_days"], line["storage_gb_month"], line["total"]) == (
        "web-1", 30, "30.000", "6.44")


def test_bad_month_is_400_with_the_field(client, alice, alpha, api_headers):
    r = client.get(f"/api/v1/subscriptions/{alpha.pk}/bills/2015-6", headers=api_headers(alice))
    assert r.status_code == 400 and "month" in r.json()["errors"]
    r = client.get(f"/api/v1/subscriptions/{alpha.pk}/usage", {"month": "june"}, headers=api_headers(alice))
    assert r.status_code == 400 and "month" in r.json()["errors"]


def test_another_subscription_is_404(client, charlie, alpha, vault, api_headers):
    _billed_june(vault)
    headers = api_headers(charlie)
    assert client.get(f"/api/v1/subscriptions/{alpha.pk}/usage", headers=headers).status_code == 404
    assert client.get(f"/api/v1/subscriptions/{alpha.pk}/bills/2015-06", headers=headers).status_code == 404


def test_anonymous_is_401(client, alpha):
    assert client.get(f"/api/v1/subscriptions/{alpha.pk}/usage").status_code == 401
    assert client.get(f"/api/v1/subscriptions/{alpha.pk}/bills/2015-06").status_code == 401
