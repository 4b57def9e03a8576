"""The whole life of a backup customer in a real browser, against the live server and real workers:
sign in, Quick Create a vault, set its redundancy, discover, register and protect two VMs, back up now and watch
the job live, open its details, restore to a new VM, stop protection and see the bill. A screenshot of every page
lands in var/screenshots/e2e-*.png, and no page may trigger a Content-Security-Policy violation."""

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from backup.billing import services as billing
from backup.jobs.models import Job, JobStatus, Operation
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem, StorageAccount, VirtualMachine
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.faults.helpers import final
from tests.vms.helpers import make_vm
from tests.worker import start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _all_done():
    return not Job.objects.filter(status__in=(JobStatus.IN_PROGRESS, JobStatus.CANCELLING)).exists()


def test_a_customer_protects_backs_up_restores_and_sees_the_bill(live_server, page, screenshots, alice, alpha,
                                                                  list_prices):
    # A worker of its own on the default queue (vault provisioning is sent there too), throttled a little so the
    # backup's progress is seen live (BACKUP_TEST_THROTTLE_S: tests only).
    worker = start_worker("e2e", Path(settings.VAR_DIR) / "logs", extra_env={"BACKUP_TEST_THROTTLE_S": "0.4"})
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    shot = iter(range(1, 100))

    def snap(name: str) -> None:
        page.screenshot(path=str(screenshots / f"e2e-{next(shot):02d}-{name}.png"))

    try:
        # Sign in.
        page.goto(f"{live_server.url}/accounts/login/")
        snap("sign-in")
        sign_in(page, live_server, "alice", PASSWORD)
        snap("home")

        # Quick Create a vault; the toast turns to success when the worker has provisioned it.
        page.click(".cmd-new")
        for step in ("DATA SERVICES", "RECOVERY SERVICES", "BACKUP VAULT", "QUICK CREATE"):
            page.locator(".drawer a.drawer-item", has_text=step).click()
        page.fill("#id_name", "Contoso-Vault")
        page.select_option("#id_region", "West US")
        page.select_option("#id_subscription", label="Alpha")
        snap("quick-create")
        page.click("#create-vault")
        page.wait_for_url(f"{live_server.url}/vaults/")
        row = page.locator("tr[data-vault='Contoso-Vault']")
        expect(row).to_contain_text("Active", timeout=60_000)
        expect(page.locator("#toasts")).to_contain_text("Successfully created backup vault 'Contoso-Vault'")
        snap("vault-created")
        vault = Vault.objects.get(name="Contoso-Vault")
        base = f"{live_server.url}/vaults/{vault.pk}"

        # Redundancy, before anything is registered.
        page.goto(f"{base}/configure/")
        page.check("input[value=local]")
        page.click("text=SAVE")
        expect(page.locator("#redundancy-form")).to_contain_text("Saved.")
        snap("redundancy")

        # Two VMs in the vault's region; discover, register and protect them.
        web = make_vm(alpha, region="West US", name="web01")
        sql = make_vm(alpha, region="West US", name="sql01")
        StorageAccount.objects.create(subscription=alpha, name="e2erestore", region="West US")
        page.goto(f"{base}/registered/")
        page.click("#cmd-discover")
        expect(page.locator("#discovery-status")).to_contain_text("2 discovered virtual machines", timeout=60_000)
        snap("discovered")
        page.click("#cmd-register")
        page.check(f"#register-vm-{web.pk}")
        page.check(f"#register-vm-{sql.pk}")
        snap("register")
        page.click("#register-submit")
        wait_for(lambda: Job.objects.filter(operation=Operation.REGISTER).count() == 2 and _all_done(), timeout=60,
                 message="registration")
        page.goto(f"{base}/registered/")
        expect(page.locator("#registered-table")).to_contain_text("Registered")
        snap("registered")
        page.click("#cmd-protect")
        page.check(f"#protect-vm-{web.pk}")
        page.check(f"#protect-vm-{sql.pk}")
        page.click("#protect-next")
        expect(page.locator("#protect-dialog")).to_contain_text("2 of 2")
        snap("protect-policy")
        page.click("#protect-submit")
        wait_for(lambda: ProtectedItem.objects.filter(vault=vault).count() == 2 and _all_done(), timeout=60,
                 message="protection")
        page.goto(f"{base}/protected/")
        item = ProtectedItem.objects.get(vault=vault, vm=web)
        expect(page.locator(f"#protected-row-{item.pk}")).to_contain_text("web01")
        snap("protected")

        # BACK UP NOW, then watch the job on the JOBS tab without reloading.
        page.locator(f"#protected-row-{item.pk} input[type=checkbox]").check()
        page.click("#cmd-backup-now")
        job = wait_for(lambda: Job.objects.filter(operation=Operation.BACKUP, item_id=web.pk).first(),
                       message="the backup job")
        page.goto(f"{base}/jobs/")
        job_row = page.locator(f"#job-row-{job.pk}")
        expect(job_row).to_contain_text("Backup")
        snap("job-running")
        expect(job_row).to_contain_text("Completed", timeout=60_000)
        snap("job-completed")
        job_row.locator("a").first.click()
        expect(page.locator(".job-modal")).to_contain_text("Transfer data to Backup vault")
        snap("job-details")
        page.keyboard.press("Escape")
        wait_for(_all_done, timeout=60, message="the backup's prune")

        # Restore the newest point to a new VM in a new cloud service.
        page.goto(f"{base}/protected/")
        page.locator(f"#protected-row-{item.pk} input[type=checkbox]").check()
        page.click("#cmd-restore")
        expect(page.locator("#restore-dialog")).to_contain_text("1 of 2")
        snap("restore-point")
        page.click("#restore-next")
        expect(page.locator("#restore-dialog")).to_contain_text("2 of 2")
        page.select_option("#restore-storage", "e2erestore")
        page.check("#restore-cs-new")
        page.fill("#restore-vm-name", "web01-restored")
        page.fill("#restore-cs-name", "contoso-restored")
        snap("restore-instance")
        page.click("#restore-submit")
        expect(page.locator("#toasts")).to_contain_text("Restore job")
        restore_job = final(Job.objects.get(operation=Operation.RESTORE))
        assert restore_job.status == JobStatus.COMPLETED, restore_job.error_message
        assert VirtualMachine.objects.get(name="web01-restored").power_state == "Running"
        snap("restored")

        # Stop protection, keeping the data.
        page.goto(f"{base}/protected/")
        page.locator(f"#protected-row-{item.pk} input[type=checkbox]").check()
        page.click("#cmd-stop-protection")
        expect(page.locator("#stop-protection-dialog")).to_be_visible()
        snap("stop-protection")
        page.click("#stop-submit")
        final(wait_for(lambda: Job.objects.filter(operation=Operation.STOP_PROTECTION).first(), message="stop"))
        page.goto(f"{base}/protected/")
        expect(page.locator(f"#protected-row-{item.pk}")).to_contain_text("Protection stopped")
        snap("protection-stopped")

        # The dashboard and the bill.
        page.goto(f"{base}/dashboard/")
        snap("dashboard")
        billing.meter_usage()  # what beat's hourly meter-billing-usage task does
        page.goto(f"{live_server.url}/billing/")
        expect(page.locator("#billing-summary")).to_be_visible()
        expect(page.locator("#bill-total")).not_to_contain_text("$0.00")
        snap("billing")
    finally:
        stop_worker(worker)
    assert violations == []
