"""The BILLING page, its CSV, the rules modal and the vault estimate partial."""

import csv
import io
from datetime import date

from backup.billing.models import PriceSheet
from backup.billing.months import Month
from backup.billing.services import meter_usage, recompute_month
from backup.billing.services.usage import end_of
from backup.billing.views import CSV_HEADER

from .conftest import add_point, at, make_item

JUNE = "2015-06"


def _billed_june(vault):
    item = make_item(vault, vm_name="web-1")
    add_point(item, at(date(2015, 6, 1)), pi_gb=47, stored_gb=30)
    recompute_month(Month(2015, 6), now=end_of(date(2015, 6, 30)))


def test_billing_page_shows_the_bill_of_a_members_subscription(alice_client, alpha, vault):
    _billed_june(vault)
    r = alice_client.get("/billing/", {"subscription": alpha.pk, "month": JUNE})
    assert r.status_code == 200
    body = r.content.decode()
    assert "web-1" in body and "vault-1" in body
    assert "47.00 GB" in body and "$5.00" in body
    assert "$1.44" in body  # 30 GB x $0.048
    assert "$6.44" in body
    assert "<svg" in body and "June 2015" in body
    assert "after deduplication and compression" in body


def test_billing_page_defaults_to_the_first_subscription_and_this_month(alice_client):
    r = alice_client.get("/billing/")
    assert r.status_code == 200
    assert "Nothing was metered" in r.content.decode()


def test_billing_page_of_another_subscription_is_404(charlie_client, alpha):
    assert charlie_client.get("/billing/", {"subscription": alpha.pk}).status_code == 404
    assert charlie_client.get("/billing/bill.csv", {"subscription": alpha.pk}).status_code == 404


def test_billing_page_needs_sign_in(client):
    r = client.get("/billing/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_bad_month_is_reported_at_the_field(alice_client, alpha):
    for month in ("2015-13", "june", "9999-12"):
        r = alice_client.get("/billing/", {"subscription": alpha.pk, "month": month})
        assert r.status_code == 200
        assert 'data-field="month"' in r.content.decode()


def test_vault_dashboard_loads_the_estimate_with_htmx(alice_client, vault):
    r = alice_client.get(f"/vaults/{vault.pk}/dashboard/")
    assert r.status_code == 200
    assert f'hx-get="/billing/vaults/{vault.pk}/estimate/"' in r.content.decode()


def test_csv_has_the_tables_columns_a_line_per_vm_and_a_total(alice_client, alpha, vault):
    _billed_june(vault)
    r = alice_client.get("/billing/bill.csv", {"subscription": alpha.pk, "month": JUNE})
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    assert f'bill-{alpha.pk}-2015-06.csv' in r["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0] == CSV_HEADER
    line = dict(zip(rows[0], rows[1], strict=True))
    assert (line["virtual machine"], line["vault"], line["billable days"]) == ("web-1", "vault-1", "30")
    assert (line["protected instance GB"], line["instance charge"], line["total"]) == ("47.00", "5.00", "6.44")
    assert rows[2][2] == "TOTAL" and rows[2][15] == "6.44"
    assert len(rows) == 3


def test_rules_open_as_a_modal_with_the_price_sheet_in_force(alice_client):
    r = alice_client.get("/billing/rules/", HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 200 and 'id="billing-rules-modal"' in body
    assert "$0.048" in body and "47 GB" in body and "2<sup>30</sup>" in body
    assert "<html" not in body
    full = alice_client.get("/billing/rules/")
    assert "<html" in full.content.decode()


def test_vault_estimate_partial_shows_the_months_estimate(alice_client, vault):
    item = make_item(vault)
    add_point(item, at(date.today(), 0), pi_gb=47, stored_gb=0)
    meter_usage()
    r = alice_client.get(f"/billing/vaults/{vault.pk}/estimate/")
    body = r.content.decode()
    assert r.status_code == 200 and 'id="billing-estimate"' in body
    assert 'id="estimate-projected"' in body and "$" in body


def test_vault_estimate_of_another_subscription_is_404(charlie_client, vault):
    assert charlie_client.get(f"/billing/vaults/{vault.pk}/estimate/").status_code == 404


def test_usage_without_a_price_sheet_in_force_is_explained_not_a_500(alice_client, client, alice, alpha, vault,
                                                                       api_headers):
    _billed_june(vault)
    PriceSheet.objects.all().delete()
    why = "No price sheet is in force on 2015-06-01"
    page = alice_client.get("/billing/", {"subscription": alpha.pk, "month": JUNE})
    assert page.status_code == 200 and 'id="bill-unpriced"' in page.content.decode()
    assert why in page.content.decode() and "Price sheets" in page.content.decode()
    sheet = alice_client.get("/billing/bill.csv", {"subscription": alpha.pk, "month": JUNE})
    assert sheet.status_code == 409 and why in sheet.content.decode()
    api = client.get(f"/api/v1/subscriptions/{alpha.pk}/bills/2015-06", headers=api_headers(alice))
    assert api.status_code == 409 and why in api.json()["detail"]
    item = make_item(vault, vm_name="today-1")
    add_point(item, at(date.today(), 0), pi_gb=47, stored_gb=0)
    meter_usage()
    estimate = alice_client.get(f"/billing/vaults/{vault.pk}/estimate/")
    assert estimate.status_code == 200 and "No price sheet is in force" in estimate.content.decode()
