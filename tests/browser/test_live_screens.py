"""Live screens in a real browser: a poll keeps the ticked boxes and focus while a row follows its Stop
protection job to the end, and the Jobs page shows a job started elsewhere at the top, in local time."""

import re

import pytest
from playwright.sync_api import expect

from backup.jobs import runner
from backup.vms.services import backup as backups
from backup.vms.services import manage
from tests.browser.conftest import shoot_at_widths, sign_in
from tests.conftest import PASSWORD
from tests.factories import make_protected_item, make_vault

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def berlin_page(browser):
    """A browser in another zone than the server's UTC, as a user in Berlin (UTC+01:00 in December)."""
    context = browser.new_context(viewport={"width": 1366, "height": 800}, timezone_id="Europe/Berlin")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def jobs_stay_queued(monkeypatch):
    """Jobs are recorded but sent to no worker (as with the broker down), whatever worker an earlier test left
    running: the page must show them in flight until the test itself runs them."""
    from backup.jobs import services as jobs_services

    monkeypatch.setattr(jobs_services, "enqueue", lambda job_id: True)


def test_a_poll_keeps_ticks_and_focus_while_a_row_follows_stop_protection(live_server, berlin_page, screenshots,
                                                                           alice, alpha, jobs_stay_queued):
    page = berlin_page
    vault = make_vault(alpha, name="Payroll")
    item = make_protected_item(alpha, vault, os_mib=1, data_mib=0.5)
    other = make_protected_item(alpha, vault, os_mib=1, data_mib=0.5)
    job = manage.stop_protection(item, user=alice)  # the job stays in flight
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{vault.pk}/protected/")
    page.evaluate("window.__notReloaded = true")
    row = page.locator(f"#protected-row-{item.pk}")
    expect(row).to_contain_text("Stop Protection in progress")
    box = page.locator(f"#pick-{other.pk}")
    box.check()
    box.focus()
    for _ in range(2):  # two polls of the table
        with page.expect_response(re.compile(rf"/vaults/{vault.pk}/protected/")):
            pass
    expect(box).to_be_checked()
    expect(box).to_be_focused()
    shoot_at_widths(page, screenshots, "protected-live")

    runner.run(job.pk)  # the job ends, as a worker would end it
    expect(row).to_contain_text("Protection stopped")
    expect(row).not_to_contain_text("in progress")
    expect(box).to_be_checked()
    assert page.evaluate("window.__notReloaded === true")
    shoot_at_widths(page, screenshots, "protected-live-ended")


def test_a_job_started_elsewhere_appears_at_the_top_in_local_time(live_server, berlin_page, screenshots, alice,
                                                                   alpha, jobs_stay_queued):
    page = berlin_page
    vault = make_vault(alpha, name="Payroll")
    item = make_protected_item(alpha, vault, os_mib=1, data_mib=0.5)
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{vault.pk}/jobs/")
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("#job-list")).to_contain_text("No jobs match")

    job = backups.back_up_now(item, alice)  # as another tab, the scheduler or the CLI would
    row = page.locator(f"#job-row-{job.pk}")
    expect(row).to_be_visible(timeout=10_000)
    expect(page.locator("#job-table tbody tr.job-row").first).to_have_id(f"job-row-{job.pk}")
    expect(page.locator("#job-list")).not_to_contain_text("No jobs match")
    expect(row.locator(".cloud-service")).to_have_text(item.cloud_service_name)
    local = re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M UTC\+01:00$")
    expect(row.locator("time")).to_have_text(local)
    assert page.evaluate("window.__notReloaded === true")
    shoot_at_widths(page, screenshots, "jobs-live-new")

    row.locator("a").first.click()
    dialog = page.locator(".job-modal")
    expect(dialog).to_contain_text("UTC+01:00")
    expect(dialog).to_contain_text("CLOUD SERVICE")
    shoot_at_widths(page, screenshots, "job-details-live")


def test_an_ended_jobs_figures_stay_and_a_cancelled_job_is_calm(live_server, berlin_page, screenshots, alice, alpha):
    from django.utils import timezone

    from backup.jobs.models import Job, JobStatus, Operation

    page = berlin_page
    vault = make_vault(alpha, name="Payroll")
    common = {"subscription": alpha, "vault_id": vault.pk, "item_type": "vm", "item_name": "web01",
              "item_parent": "cs2", "ended_at": timezone.now()}
    done = Job.objects.create(operation=Operation.BACKUP, status=JobStatus.COMPLETED, progress_percent=100,
                              bytes_done=13 << 20, bytes_total=13 << 20, result={"Backup Size": "13.0 MB"}, **common)
    cancelled = Job.objects.create(operation=Operation.RESTORE, status=JobStatus.CANCELLED,
                                   error_message="The job was cancelled by the user.", **common)
    sign_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/vaults/{vault.pk}/jobs/")
    expect(page.locator(f"#job-row-{done.pk} .progress-last")).to_have_text(re.compile(r"100% · 13.0\sMB of 13.0\sMB"))
    expect(page.locator(f"#job-row-{cancelled.pk} .status")).to_have_text("Cancelled")
    shoot_at_widths(page, screenshots, "jobs-ended")
    page.goto(f"{live_server.url}/jobs/{cancelled.pk}/")
    expect(page.locator("#job-cancelled")).to_be_visible()
    expect(page.locator(".job-error")).to_have_count(0)
    shoot_at_widths(page, screenshots, "job-cancelled")
    page.goto(f"{live_server.url}/jobs/{done.pk}/")
    expect(page.locator("#job-detail")).to_contain_text("BACKUP SIZE")
    shoot_at_widths(page, screenshots, "job-completed")


def test_toasts_stay_clear_of_the_vault_tabs_and_the_command_bar(live_server, page, screenshots, alice, alpha):
    from backup.notifications.models import Notification
    from backup.notifications.services import notify

    vault = make_vault(alpha, name="Payroll")
    for name in ("web01 (contoso-web-1)", "web02 (contoso-web-1)", "app01 (contoso-application-tier-1)"):
        notify(alice, f"Backup job for '{name}' completed", level=Notification.Level.SUCCESS)
    sign_in(page, live_server, "alice", PASSWORD)
    for width in (1366, 1024):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{live_server.url}/vaults/{vault.pk}/protected/")
        expect(page.locator("#toasts .toast")).to_have_count(2)  # fewer: the panel keeps the rest
        page.screenshot(path=str(screenshots / f"toasts-{width}.png"))
        toasts = page.locator("#toasts").bounding_box()
        tabs = page.locator("nav.tabs").bounding_box()
        bar = page.locator(".commandbar").bounding_box()
        assert toasts["y"] + toasts["height"] <= tabs["y"], (width, toasts, tabs)
        assert toasts["y"] + toasts["height"] <= bar["y"]
        titles = page.locator("#toasts .toast-title")
        assert titles.first.get_attribute("title").startswith("Backup job for")  # the whole text, when cut short
