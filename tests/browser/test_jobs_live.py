"""The vault's JOBS tab in a real browser: a running backup's row turns Completed without a reload."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from backup.vms.services import backup as backups
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.factories import make_protected_item
from tests.vms.test_backup_worker import _own_queue
from tests.worker import start_worker, stop_worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_running_backup_row_updates_live_to_completed(live_server, page, screenshots, alice, alpha, monkeypatch):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-live"
    _own_queue(monkeypatch, queue)
    # Throttled so the row is seen In progress first (BACKUP_TEST_THROTTLE_S: tests only).
    worker = start_worker("live", Path(settings.VAR_DIR) / "logs",
                          extra_env={"CELERY_TASK_DEFAULT_QUEUE": queue, "BACKUP_TEST_THROTTLE_S": "1"})
    try:
        item = make_protected_item(alpha, os_mib=12, data_mib=6)
        sign_in(page, live_server, "alice", PASSWORD)
        job = backups.back_up_now(item, alice)
        page.goto(f"{live_server.url}/vaults/{item.vault_id}/jobs/")
        page.evaluate("window.__notReloaded = true")
        row = page.locator(f"#job-row-{job.pk}")
        expect(row).to_contain_text("In progress")
        expect(row.locator(".progress-bar")).to_be_visible()
        expect(row).to_contain_text("Completed", timeout=60_000)
        assert page.evaluate("window.__notReloaded === true")  # polled in place, no full-page reload
        expect(page.locator("#toasts")).to_contain_text("Backup job for")
        page.screenshot(path=str(screenshots / "jobs-live.png"))

        # The details dialog: sub-tasks with status and duration.
        row.locator("a").first.click()
        dialog = page.locator(".job-modal")
        for step in ("Take Snapshot", "Transfer data to Backup vault", "Create recovery point", "Delete snapshot"):
            expect(dialog).to_contain_text(step)
        expect(dialog).to_contain_text("DATA TRANSFERRED")
        page.screenshot(path=str(screenshots / "job-details.png"))

        # Filters are kept in the URL.
        page.keyboard.press("Escape")
        page.locator("#job-filters select[name=status]").select_option("failed")
        expect(page).to_have_url(re.compile(r"status=failed"))
        expect(page.locator("#job-list")).to_contain_text("No jobs match")
        assert page.evaluate("window.__notReloaded === true")
    finally:
        stop_worker(worker)
