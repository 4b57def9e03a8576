"""A person defines the product's long-term retention in the policy dialog: daily, weekly on Sunday,
monthly week-based (last Sunday), yearly day-based (the 1st of January), meeting a rule's message first."""

import pytest
from playwright.sync_api import expect

from backup.vms.models import BackupPolicy
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.vms.helpers import make_vault

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_policy_with_weekly_monthly_and_yearly_rules(live_server, page, screenshots, alice, alpha):
    vault = make_vault(alpha, name="Payroll")
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{vault.pk}/policies/")
    page.click("#cmd-create-policy")
    dialog = page.locator("#policy-dialog")
    dialog.locator("#id_name").fill("LongTerm")
    dialog.locator("#id_weekly_retention_weeks").fill("104")  # on Sunday, the form's default
    dialog.locator("#id_monthly_retention_months").fill("120")  # week-based, the last Sunday by default
    dialog.locator("#id_yearly_retention_years").fill("99")
    yearly = dialog.locator("#rule-yearly")
    yearly.locator("input[name=yearly_retention_format][value=day]").check()
    expect(yearly.locator(".format-week")).to_be_hidden()  # only the chosen format's days are shown
    expect(yearly.locator(".format-day")).to_be_visible()
    # A weekly schedule refuses the day-based yearly rule at its field.
    dialog.locator("input[name=frequency][value=weekly]").check()
    dialog.locator("input[name=days_of_week][value='6']").check()
    dialog.locator("#id_daily_retention_days").fill("")
    page.click("#policy-save")
    expect(dialog.locator("[data-field=yearly_retention_format]")).to_contain_text(
        "A weekly backup schedule cannot have a day-based yearly retention rule: choose week-based.")
    page.screenshot(path=str(screenshots / "policy-rules-refused.png"))

    dialog.locator("input[name=frequency][value=daily]").check()
    dialog.locator("#id_daily_retention_days").fill("30")
    page.click("#policy-save")
    row = page.locator("tr[data-policy=LongTerm]")
    expect(row).to_contain_text("Daily: 30 days")
    expect(row).to_contain_text("Weekly: 104 weeks on Sunday")
    expect(row).to_contain_text("Monthly: 120 months on the last Sunday")
    expect(row).to_contain_text("Yearly: 99 years on day 1 of January")
    page.screenshot(path=str(screenshots / "policy-rules-list.png"))
    policy = BackupPolicy.objects.get(name="LongTerm")
    assert (policy.monthly_retention_format, policy.yearly_retention_format) == ("week", "day")
