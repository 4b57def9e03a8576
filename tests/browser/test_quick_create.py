import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_quick_create_walks_to_an_active_vault(celery_worker, live_server, page, screenshots, alice, alpha):
    sign_in(page, live_server, "alice", PASSWORD)
    expect(page.locator(".leftnav")).to_contain_text("RECOVERY SERVICES")

    page.click(".cmd-new")
    drawer = page.locator(".drawer")
    for step in ("DATA SERVICES", "RECOVERY SERVICES", "BACKUP VAULT", "QUICK CREATE"):
        drawer.locator("a.drawer-item", has_text=step).click()
    page.fill("#id_name", "1-bad-name")
    page.click("#create-vault")
    expect(page.locator("[data-field=name]")).to_contain_text("start with a letter")

    page.fill("#id_name", "Payroll-Vault")
    page.select_option("#id_region", "West Europe")
    page.select_option("#id_subscription", label="Alpha")
    page.screenshot(path=str(screenshots / "quick-create.png"))
    page.click("#create-vault")

    page.wait_for_url(f"{live_server.url}/vaults/")
    row = page.locator("tr[data-vault='Payroll-Vault']")
    expect(row).to_contain_text("West Europe")
    # The worker provisions the vault; the row and the toast change without a reload.
    expect(row).to_contain_text("Active", timeout=60_000)
    expect(page.locator("#toasts")).to_contain_text("Successfully created backup vault 'Payroll-Vault'")
    page.screenshot(path=str(screenshots / "vault-active.png"))

    row.locator("a").first.click()
    expect(page.locator(".quickstart")).to_contain_text("Discover virtual machines")
    page.click("text=CONFIGURE")
    page.check("input[value=local]")
    page.click("text=SAVE")
    expect(page.locator("#redundancy-form")).to_contain_text("Saved.")
    page.screenshot(path=str(screenshots / "vault-configure.png"))
