"""The RESTORE wizard, the item page and the manage dialogs in a real browser, with a real worker behind it.
Screenshots of each page land in var/screenshots/restore-*.png."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from backup.jobs.models import Job, JobStatus, Operation
from backup.vms.models import RecoveryPoint, StorageAccount, VirtualMachine
from backup.vms.services import backup as backups
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import make_protected_item, make_vm, protect
from tests.vms.test_backup_worker import _final
from tests.worker import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _backed_up_twice(alpha, alice):
    item = make_protected_item(alpha, name="web01", os_mib=1, data_mib=0.5)
    first = _final(backups.back_up_now(item, alice))
    older = RecoveryPoint.objects.get(point_id=f"job-{first.pk}")
    # Taken three days ago, as far as the calendar and retention are concerned.
    RecoveryPoint.objects.filter(pk=older.pk).update(created_at=older.created_at - timedelta(days=3))
    wait_for(lambda: not Job.objects.active().exists(), message="the first prune")
    _final(backups.back_up_now(item, alice))
    wait_for(lambda: not Job.objects.active().exists(), message="the second prune")
    older.refresh_from_db()
    return item, older


def test_the_restore_wizard_restores_a_chosen_point(live_server, page, screenshots, celery_worker, alice, alpha):
    item, older = _backed_up_twice(alpha, alice)
    StorageAccount.objects.create(subscription=alpha, name="restorelrs", region="West US")
    StorageAccount.objects.create(subscription=alpha, name="restorezrs", region="West US", kind="Standard_ZRS")
    base = f"{live_server.url}/vaults/{item.vault_id}"
    sign_in(page, live_server, "alice", PASSWORD)

    page.goto(f"{base}/protected/")
    row = page.locator(f"#protected-row-{item.pk}")
    expect(row).to_contain_text("2")
    page.screenshot(path=str(screenshots / "restore-0-protected-items.png"))
    row.locator("input[type=checkbox]").check()
    page.click("#cmd-restore")

    # Page 1: newest point by default; a calendar with shaded days.
    dialog = page.locator("#restore-dialog")
    expect(dialog).to_contain_text("1 of 2")
    expect(page.locator("#restore-mode-newest")).to_be_checked()
    page.screenshot(path=str(screenshots / "restore-1-newest.png"))
    day = older.created_at.date()
    if page.locator(f"[data-day='{day.isoformat()}']").count() == 0:
        page.click("#calendar-prev")
    page.click(f"[data-day='{day.isoformat()}']")
    expect(page.locator("#day-points")).to_contain_text("1 RECOVERY POINT")
    expect(page.locator("#restore-mode-date")).to_be_checked()
    expect(page.locator(f"#restore-point-{older.pk}")).to_be_checked()
    page.screenshot(path=str(screenshots / "restore-2-date.png"))
    page.click("#restore-next")

    # Page 2: the restore instance. Only supported accounts are offered.
    expect(dialog).to_contain_text("2 of 2")
    expect(dialog).to_contain_text("not protected")
    offered = page.locator("#restore-storage option").all_inner_texts()
    assert "restorelrs · Standard (locally redundant)" in offered and not any("restorezrs" in o for o in offered)
    page.select_option("#restore-storage", "restorelrs")
    page.screenshot(path=str(screenshots / "restore-3-instance.png"))
    page.check("#restore-cs-existing")
    expect(page.locator("#restore-cs-select")).to_be_enabled()
    page.fill("#restore-vm-name", "web01")
    page.click("#restore-submit")
    expect(page.locator("[data-field=vm_name]")).to_contain_text("replacing an existing virtual machine")
    page.screenshot(path=str(screenshots / "restore-4-refused-name.png"))
    page.check("#restore-cs-new")
    expect(page.locator("#restore-cs-name")).to_be_enabled()  # page 2 was re-rendered for a new cloud service
    page.fill("#restore-vm-name", "web01-r")
    page.fill("#restore-cs-name", "web01-restored")
    page.click("#restore-submit")

    # Submitted: the dialog closes and the toast offers the job.
    expect(page.locator("#restore-dialog")).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("Restore job")
    page.screenshot(path=str(screenshots / "restore-5-toast.png"))
    job = Job.objects.get(operation=Operation.RESTORE)
    assert _final(job).status == JobStatus.COMPLETED, job.error_message
    assert job.params["point_id"] == older.point_id
    restored = VirtualMachine.objects.get(name="web01-r")
    assert restored.power_state == "Running" and restored.cloud_service.name == "web01-restored"

    # The item page, then STOP PROTECTION keeping the data.
    page.goto(f"{base}/protected/{item.pk}/")
    expect(page.locator("#points-table tbody tr")).to_have_count(2)
    page.screenshot(path=str(screenshots / "restore-6-item.png"))
    page.click("#cmd-stop-protection")
    expect(page.locator("#stop-delete-data")).not_to_be_checked()
    page.screenshot(path=str(screenshots / "restore-7-stop-protection.png"))
    page.click("#stop-submit")
    page.wait_for_url(f"{base}/protected/")
    wait_for(lambda: _final(Job.objects.get(operation=Operation.STOP_PROTECTION)), message="stop protection")
    page.reload()
    expect(page.locator(f"#protected-row-{item.pk}")).to_contain_text("Protection stopped")

    # The dashboard's DELETE lists what the vault still holds.
    page.goto(f"{base}/dashboard/")
    page.click("#cmd-delete-vault")
    expect(page.locator("#delete-vault-refused")).to_contain_text("1 registered item (web01), 1 protected item, "
                                                                  "2 recovery points")
    page.screenshot(path=str(screenshots / "restore-8-delete-vault-refused.png"))


def test_the_wizard_explains_why_a_multi_dc_controller_is_not_restored(live_server, page, screenshots, alice,
                                                                      alpha):
    item = make_protected_item(alpha, name="dc02", os_mib=0.25, data_mib=0.25, domain_controller=True,
                               multi_dc_domain=True)
    protect(item.vault, make_vm(alpha, name="other", os_mib=0.25, data_mib=0.25))
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{item.vault_id}/protected/")
    page.locator(f"#protected-row-{item.pk} input[type=checkbox]").check()
    page.click("#cmd-restore")
    expect(page.locator("#restore-refused")).to_contain_text("USN rollback")
    expect(page.locator("#restore-dialog")).to_contain_text("disks only")
    page.screenshot(path=str(screenshots / "restore-9-multi-dc.png"))
