"""List rows follow their items' jobs to the end state without a reload; usage follows a backup's end."""

import pytest
from django.urls import reverse
from django.utils import timezone

from backup.billing.models import DailyUsage
from backup.jobs.models import JobStatus
from backup.vms.models import RegisteredItem
from backup.vms.services import manage, policies
from tests.factories import make_protected_item

from .helpers import run_jobs
from .restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
)


@pytest.fixture
def item(alpha):
    return make_protected_item(alpha, os_mib=1, data_mib=0.5)


def test_the_protected_table_polls_while_an_items_job_runs_and_draws_its_end(alice_client, alice, item):
    url = reverse("vault-protected", args=[item.vault_id])
    job = manage.stop_protection(item, user=alice)
    page = alice_client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Stop Protection in progress" in page
    # The tick boxes are kept by the poll (hx-preserve needs an id per box).
    assert f'id="pick-{item.pk}" hx-preserve' in page
    run_jobs(job)
    end = alice_client.get(url, HTTP_HX_REQUEST="true")
    assert end.status_code == 286  # the last poll: the end state, then no more
    assert "Protection stopped" in end.content.decode() and "in progress" not in end.content.decode()


def test_a_deleted_items_row_leaves_the_table(alice_client, alice, item):
    run_jobs(manage.stop_protection(item, user=alice))
    item.refresh_from_db()
    job = manage.delete_backup_data(item, user=alice)
    url = reverse("vault-protected", args=[item.vault_id])
    assert 'hx-trigger="every 2s"' in alice_client.get(url).content.decode()
    run_jobs(job)
    end = alice_client.get(url, HTTP_HX_REQUEST="true")
    assert end.status_code == 286 and f"protected-row-{item.pk}" not in end.content.decode()


def test_an_unregistering_row_polls_and_leaves_the_list_when_done(alice_client, alice, item):
    run_jobs(manage.stop_protection(item, user=alice, delete_data=True))
    registered = RegisteredItem.objects.get(pk=item.registered_item_id)
    job = manage.start_unregister(registered, user=alice)
    html = alice_client.get(reverse("vault-registered", args=[item.vault_id])).content.decode()
    row_url = reverse("vault-registered-row", args=[item.vault_id, registered.pk])
    assert f'hx-get="{row_url}"' in html and "Unregistering" in html
    run_jobs(job)
    assert job.status == JobStatus.COMPLETED
    gone = alice_client.get(row_url, HTTP_HX_REQUEST="true")
    assert gone.status_code == 286 and gone.content == b""  # swapped for nothing: the row is removed


def test_a_deleting_vault_row_polls_and_answers_404_once_deleted(alice_client, alice, alpha):
    from tests.factories import make_vault

    vault = make_vault(alpha, name="Leaving")
    job = manage.start_delete_vault(vault, user=alice)
    html = alice_client.get(reverse("vault-list")).content.decode()
    assert "data-gone-on-404" in html and "Deleting" in html
    run_jobs(job)
    assert alice_client.get(reverse("vault-row", args=[vault.pk])).status_code == 404


def test_a_completed_backup_is_metered_at_once(alice, item):
    assert not DailyUsage.objects.exists()
    back_up(item, alice)
    usage = DailyUsage.objects.get(day=timezone.now().date(), item_ref=item.registered_item_id)
    assert usage.billable and usage.recovery_points == 1


def test_the_policy_in_use_message_names_each_machines_cloud_service(item):
    message = policies.policy_in_use_message(item.policy)
    assert f"it protects: {item.vm_name} ({item.cloud_service_name})." in message
