"""Dialogs that the server renders again: the restore wizard keeps the typed new cloud-service name across the
"existing" toggle, and the Unregister dialog shows its refusal without a single console error (the CSP)."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backup.vms.models import RecoveryPoint
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import make_protected_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_the_restore_wizard_keeps_the_typed_cloud_service_name(live_server, page, screenshots, alice, alpha):
    item = make_protected_item(alpha, name="web01")
    point = RecoveryPoint.objects.create(
        vault=item.vault, protected_item=item, registered_item=item.registered_item, vm_name=item.vm_name,
        point_id="job-1", created_at=timezone.now(), consistency="crash",
        disks=[{"key": "os", "size": 1 << 30, "logical_bytes": 1 << 20}])
    errors = _console_errors(page)
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{item.vault_id}/protected/")
    page.locator(f"#protected-row-{item.pk} input[type=checkbox]").check()
    page.click("#cmd-restore")
    expect(page.locator(f"#restore-point-{point.pk}")).to_be_checked()
    page.click("#restore-next")

    page.fill("#restore-cs-name", "web01-again")
    page.check("#restore-cs-existing")
    expect(page.locator("#restore-cs-select")).to_be_enabled()
    expect(page.locator("#restore-cs-name")).to_be_disabled()
    page.check("#restore-cs-new")
    expect(page.locator("#restore-cs-name")).to_be_enabled()
    expect(page.locator("#restore-cs-name")).to_have_value("web01-again")
    page.screenshot(path=str(screenshots / "restore-toggle-keeps-name.png"))
    assert errors == []


def test_the_unregister_dialog_re_renders_its_refusal_without_console_errors(live_server, page, screenshots, alice,
                                                                           alpha):
    item = make_protected_item(alpha, name="web01")
    errors = _console_errors(page)
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{item.vault_id}/registered/")
    page.wait_for_load_state("networkidle")
    page.click("#cmd-unregister")
    # A protected item cannot be chosen (its row says why); going on with nothing chosen is refused.
    expect(page.locator(f"#unregister-{item.registered_item_id}")).to_be_disabled()
    page.click("#unregister-next")
    expect(page.locator("#unregister-error")).to_be_visible()
    page.click("#unregister-next")  # and again: each re-render must stay clean
    expect(page.locator("#unregister-error")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshots / "unregister-refused.png"))
    assert errors == [], errors
