"""Every main page at phone, tablet and desktop widths: no sideways scrolling of the page itself (wide tables
scroll inside their own box), the navigation reachable (behind MENU on a phone), dialogs inside the screen.
Screenshots go to var/screenshots/screens-<page>-<width>.png."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import RegisteredItem
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import make_policy, protect
from tests.vms.helpers import make_vault, make_vm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [375, 1024, 1366]
# How far the page, or its content pane, scrolls sideways (a wide table scrolls in its own box instead).
OVERFLOW = """Math.max(...[document.documentElement, document.querySelector('.content')]
    .map((box) => box.scrollWidth - box.clientWidth))"""

# The command bar keeps its commands on one row (scrolling sideways on a phone) and inside its 52 px.
ONE_ROW_OF_COMMANDS = """(() => { const bar = document.querySelector('.commandbar');
    const tops = new Set([...bar.querySelectorAll('.cmd-actions > *')].map((cmd) => cmd.offsetTop));
    return tops.size <= 1 && bar.getBoundingClientRect().height <= 52; })()"""


@pytest.fixture
def fleet(alpha):
    vault = make_vault(alpha, name="Payroll-Backup-Vault-West")
    policy = make_policy(vault, name="DailyPolicy")
    for n in (1, 2, 10):
        protect(vault, make_vm(alpha, name=f"payroll-app-server-{n}", files=False), policy)
    for n in (3, 4):
        vm = make_vm(alpha, name=f"web-frontend-{n}", files=False)
        RegisteredItem.objects.create(vault=vault, vm=vm, vm_name=vm.name, cloud_service_name=vm.cloud_service.name,
                                      status=RegisteredItem.Status.REGISTERED, registered_at=timezone.now())
    for n in range(3):
        Job.objects.create(subscription=alpha, vault_id=vault.pk, item_type="vm", item_name=f"payroll-app-server-{n}",
                           operation=Operation.BACKUP, status=JobStatus.COMPLETED, ended_at=timezone.now())
    return vault


def _pages(vault) -> dict[str, str]:
    tabs = ["dashboard", "registered", "protected", "jobs", "policies", "alerts", "drills", "configure"]
    item = vault.protected_items.order_by("pk").first()
    return {"home": "/", "vms": "/vms/", "vm": f"/vms/{item.vm_id}/", "cloud": "/cloud-services/",
            "storage": "/storage/", "vaults": "/vaults/", "billing": "/billing/", "quickstart": f"/vaults/{vault.pk}/",
            **{tab: f"/vaults/{vault.pk}/{tab}/" for tab in tabs}, "item": f"/vaults/{vault.pk}/protected/{item.pk}/"}


@pytest.mark.parametrize("width", WIDTHS)
def test_main_pages_fit_the_screen_and_keep_the_navigation(browser, live_server, screenshots, alice, fleet, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        sign_in(page, live_server, "alice", PASSWORD)
        overflowing = {}
        for name, path in _pages(fleet).items():
            page.goto(f"{live_server.url}{path}")
            page.screenshot(path=str(screenshots / f"screens-{name}-{width}.png"))
            if (excess := page.evaluate(OVERFLOW)) > 0:
                overflowing[path] = excess
            assert page.evaluate(ONE_ROW_OF_COMMANDS), f"the command bar of {path} wraps at {width} px"
            _assert_navigation_reachable(page, width)
        assert not overflowing, f"pages that scroll sideways at {width} px (by px): {overflowing}"
        _assert_dialog_fits(page, live_server, fleet, width, screenshots)
    finally:
        context.close()


def _assert_navigation_reachable(page, width: int) -> None:
    link = page.locator(".leftnav a.nav-recovery")
    if width >= 1024:
        expect(link).to_be_in_viewport()
        expect(page.locator(".nav-toggle")).to_be_hidden()
        return
    expect(link).not_to_be_in_viewport()  # folded away, the content has the width
    page.click(".nav-toggle")
    expect(link).to_be_in_viewport()
    expect(page.locator(".nav-toggle")).to_have_attribute("aria-expanded", "true")
    page.click(".nav-toggle")
    expect(link).not_to_be_in_viewport()


def _assert_dialog_fits(page, live_server, vault, width: int, screenshots) -> None:
    page.goto(f"{live_server.url}/vaults/{vault.pk}/registered/")
    page.check("[data-select-all=registered_item]")
    rows = page.locator("#registered-table input[name=registered_item]")
    expect(rows.nth(0)).to_be_checked()
    rows.nth(0).uncheck()
    assert page.evaluate("document.querySelector('[data-select-all=registered_item]').indeterminate")
    rows.nth(0).check()
    page.locator("#cmd-unregister").scroll_into_view_if_needed()
    page.click("#cmd-unregister")
    dialog = page.locator("#unregister-dialog")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
    expect(dialog.locator("input[name=registered_item]:checked")).to_have_count(2)
    page.screenshot(path=str(screenshots / f"screens-unregister-{width}.png"))
    assert page.evaluate(OVERFLOW) <= 0
    # One confirmation for both, then one Unregister job each.
    page.click("#unregister-next")
    expect(page.locator("#unregister-chosen li")).to_have_count(2)
    page.click("#unregister-yes")
    expect(page.locator("#unregister-dialog")).to_be_hidden()
    assert sorted(Job.objects.filter(operation=Operation.UNREGISTER).values_list("item_name", flat=True)) == \
        ["web-frontend-3", "web-frontend-4"]
