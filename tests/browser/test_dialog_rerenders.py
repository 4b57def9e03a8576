"""Dialogs that the server renders again: the restore wizard keeps the typed new cloud-service name across the
"existing" toggle, and every dialog that re-renders with an error (Unregister, Register, Protect, Create Policy)
shows it without a single console error (the CSP).

A screenshot is taken before each re-render on purpose: taking one leaves style="" on the page's inputs, as a
progress bar's width set by portal.js leaves a style attribute, and htmx used to copy such attributes onto the
swapped-in copies of elements with the same id, one CSP error each (a burst of fifteen for the Unregister
dialog)."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backup.vms.models import RecoveryPoint, RegisteredItem
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import make_protected_item
from tests.vms.helpers import make_vm

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
    _re_render_twice(page, screenshots / "unregister-refused.png", "#unregister-next", "#unregister-error")
    assert errors == [], errors


def _re_render_twice(page, screenshot, submit: str, error: str) -> None:
    for _ in range(2):  # each re-render must stay clean
        page.screenshot(path=str(screenshot))
        page.click(submit)
        expect(page.locator(error).first).to_be_visible()
        page.wait_for_load_state("networkidle")


@pytest.mark.parametrize(
    ("tab", "command", "submit", "error"),
    [
        ("registered", "#cmd-register", "#register-submit", "#register-dialog .form-error"),
        ("registered", "#cmd-protect", "#protect-next", "#protect-dialog .form-error"),
        ("policies", "#cmd-create-policy", "#policy-save", "#policy-dialog .field-error[data-field=name]"),
    ],
)
def test_dialogs_re_render_their_errors_without_console_errors(live_server, page, screenshots, alice, alpha, tab,
                                                               command, submit, error):
    item = make_protected_item(alpha, name="web01")
    for name, status in (("app01", RegisteredItem.Status.NOT_REGISTERED), ("db01", RegisteredItem.Status.REGISTERED)):
        vm = make_vm(alpha, name=name, files=False)
        RegisteredItem.objects.create(vault=item.vault, vm=vm, vm_name=name, cloud_service_name=vm.cloud_service.name,
                                      status=status)
    errors = _console_errors(page)
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{item.vault_id}/{tab}/")
    page.wait_for_load_state("networkidle")
    page.click(command)
    page.wait_for_selector(submit)
    if command == "#cmd-create-policy":
        page.fill("#policy-dialog input[name=name]", "")
    _re_render_twice(page, screenshots / f"{command[5:]}-refused.png", submit, error)
    assert errors == [], errors
