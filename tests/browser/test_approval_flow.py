"""Multi-user authorization in a real browser, across two users: alice's STOP PROTECTION with "Delete
associated backup data" is refused for lack of an approval and offers REQUEST APPROVAL; sue, the guard's
security role, approves it on SECURITY; alice's same dialog then runs it. Screenshots at 1366 and 375 px."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from backup.guard.models import ApprovalRequest, ResourceGuard
from backup.jobs.models import Job, Operation
from backup.vms.models import PointAnomaly, RecoveryPoint
from tests.browser.conftest import shoot_at_widths, sign_in
from tests.conftest import PASSWORD
from tests.factories import make_protected_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = (1366, 375)


def _shots(page, screenshots, name: str) -> None:
    shoot_at_widths(page, screenshots, name, WIDTHS, height=900, full_page=True)


def _open_stop_dialog(page, live_server, item) -> None:
    page.goto(f"{live_server.url}/vaults/{item.vault_id}/protected/")
    page.locator(f"#protected-row-{item.pk} input[type=checkbox]").check()
    page.click("#cmd-stop-protection")
    page.check("#stop-delete-data")
    page.click("#stop-submit")


def test_request_approve_and_run_across_two_users(live_server, browser, page, screenshots, alice, alpha):
    security = Group.objects.create(name="Security")
    sue = get_user_model().objects.create_user(username="sue", password=PASSWORD)
    sue.groups.add(security)
    ResourceGuard.objects.create(subscription=alpha, name="alpha-guard", security_group=security)
    item = make_protected_item(alpha, name="web01")
    point = RecoveryPoint.objects.create(
        vault=item.vault, protected_item=item, registered_item=item.registered_item, vm_name=item.vm_name,
        point_id="job-1", created_at=timezone.now(), consistency="crash",
        disks=[{"key": "os", "size": 1 << 30, "logical_bytes": 1 << 20}])
    PointAnomaly.objects.create(point=point, vault=item.vault, protected_item=item, vm_name=item.vm_name,
                                changed_share=0.97, new_data_ratio=1.0, usual_changed_share=0.04,
                                usual_new_data_ratio=0.35)

    sign_in(page, live_server, "alice", PASSWORD)
    _open_stop_dialog(page, live_server, item)
    expect(page.locator("#stop-protection-dialog .form-error")).to_contain_text("protected by the resource guard")
    expect(page.locator("#request-approval")).to_be_visible()
    _shots(page, screenshots, "approval-dialog-refused")
    page.fill("#approval-reason", "web01 is decommissioned (change 311)")
    page.click("#request-approval")
    expect(page.locator("#approval-waiting")).to_be_visible()
    request = ApprovalRequest.objects.get()
    assert request.reason == "web01 is decommissioned (change 311)" and request.requested_by == alice
    expect(page.locator("#stop-protection-dialog .form-error")).to_contain_text(f"Request {request.pk} is waiting")
    _shots(page, screenshots, "approval-dialog-waiting")
    assert Job.objects.filter(operation=Operation.STOP_PROTECTION).count() == 0

    other = browser.new_context(viewport={"width": 1366, "height": 900})
    sue_page = other.new_page()
    sign_in(sue_page, live_server, "sue", PASSWORD)
    sue_page.click("a.nav-security")
    row = sue_page.locator(f"#request-{request.pk}")
    expect(row).to_contain_text("web01 is decommissioned")
    _shots(sue_page, screenshots, "security-awaiting")
    row.locator("input[name=reason]").fill("matches change 311")
    row.locator("button[value=approve]").click()
    expect(sue_page.locator(f"#decided-{request.pk}")).to_contain_text("Approved")
    _shots(sue_page, screenshots, "security-decided")
    other.close()

    page.goto(f"{live_server.url}/security/")
    expect(page.locator(f"#my-request-{request.pk}")).to_contain_text("Approved")
    _shots(page, screenshots, "security-my-requests")
    _open_stop_dialog(page, live_server, item)
    page.wait_for_url(f"{live_server.url}/vaults/{item.vault_id}/protected/")
    expect(page.locator("#stop-protection-dialog")).to_have_count(0)
    assert Job.objects.filter(operation=Operation.STOP_PROTECTION).count() == 1
    assert ApprovalRequest.objects.get().status == ApprovalRequest.Status.USED

    page.goto(f"{live_server.url}/vaults/{item.vault_id}/protected/{item.pk}/")
    expect(page.locator(f"#point-row-{point.pk} .mark-suspicious")).to_be_visible()
    _shots(page, screenshots, "item-suspicious")


def test_the_configure_page_offers_request_approval_and_keeps_the_choice(live_server, page, screenshots, alice,
                                                                        alpha):
    security = Group.objects.create(name="Security")
    ResourceGuard.objects.create(subscription=alpha, name="alpha-guard", security_group=security)
    item = make_protected_item(alpha, name="web01")
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{item.vault_id}/configure/")
    page.check("#soft-delete-form input[name=soft_delete][value=disabled]")
    page.click("#soft-delete-save")
    expect(page.locator("#security-error")).to_contain_text("protected by the resource guard")
    expect(page.locator("#soft-delete-form input[name=soft_delete][value=disabled]")).to_be_checked()
    page.fill("#approval-reason", "backups of this vault move elsewhere")
    page.locator("#security-settings").scroll_into_view_if_needed()
    _shots(page, screenshots, "configure-approval")
    page.click("#request-approval")
    expect(page.locator("#approval-waiting")).to_be_visible()
    request = ApprovalRequest.objects.get()
    assert request.operation == "disable_soft_delete" and request.reason == "backups of this vault move elsewhere"
