"""Immutable vaults: while enabled no operation may reduce protection; locked makes that permanent."""

import re

import pytest

from backup.alerts.models import Alert
from backup.jobs.models import JobStatus
from backup.vaults import safeguards
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem
from backup.vms.services import manage, policies
from tests.factories import make_policy
from tests.vms.helpers import run_jobs

from .conftest import immutability

POLICY = {"name": "p", "frequency": "daily", "days_of_week": [], "time_of_day": "22:00", "timezone": "UTC",
          "daily_retention_days": 30, "weekly_retention_weeks": None, "monthly_retention_months": None,
          "yearly_retention_years": None}


def test_the_states_go_disabled_enabled_locked_and_locked_is_final(item, alice, django_capture_on_commit_callbacks):
    vault = item.vault
    with pytest.raises(Exception, match="only an enabled vault can be locked"):
        safeguards.set_immutability(vault, "locked", alice)
    with pytest.raises(Exception, match="Choose one of: disabled, enabled, locked"):
        safeguards.set_immutability(vault, "frozen", alice)
    with django_capture_on_commit_callbacks(execute=True):
        vault = safeguards.set_immutability(vault, "enabled", alice)
    assert vault.immutability == "enabled"
    assert safeguards.set_immutability(vault, "disabled", alice).immutability == "disabled"
    safeguards.set_immutability(vault, "enabled", alice)
    vault = safeguards.set_immutability(vault, "locked", alice)
    for state in ("enabled", "disabled"):
        with pytest.raises(Exception, match="immutability of the vault '.*' is locked and cannot be changed"):
            safeguards.set_immutability(vault, state, alice)
    alert = Alert.objects.get(kind="immutability_changed")
    assert alert.is_security and "set to enabled by alice" in alert.message


@pytest.mark.parametrize("state,words", [("enabled", "is immutable (immutability enabled)"),
                                         ("locked", "its immutability is locked")])
def test_every_reduction_is_refused_naming_the_lock(backed_up, alice, state, words):
    item = backed_up
    vault = immutability(item.vault, state)
    policy = policies.create_policy(vault, POLICY | {"name": "Keep30"})
    ProtectedItem.objects.filter(pk=item.pk).update(policy=policy)
    item.refresh_from_db()
    refusals = [
        lambda: manage.stop_protection(item, user=alice, delete_data=True),
        lambda: policies.update_policy(policy, POLICY | {"name": "Keep30", "daily_retention_days": 7}),
        lambda: safeguards.configure_soft_delete(vault, days=14),
        lambda: safeguards.disable_soft_delete(vault, alice),
    ]
    Vault.objects.filter(pk=vault.pk).update(soft_delete_days=30)
    vault.refresh_from_db()
    for refuse in refusals:
        with pytest.raises(Exception, match=re.escape(words)):
            refuse()
    # Stopped with its data kept, the item's points are still protected: deleting them, or moving the item to
    # a policy that keeps less, is refused too; keeping more is fine.
    run_jobs(manage.stop_protection(item, user=alice))
    item.refresh_from_db()
    with pytest.raises(Exception, match=re.escape(words)):
        manage.delete_backup_data(item, user=alice)
    shorter = make_policy(vault, daily_retention_days=7)
    moving = f"Moving '{item}' from the policy 'Keep30' to '{shorter.name}' (daily 30 days -> 7 days)"
    with pytest.raises(Exception, match=re.escape(moving)):
        manage.resume_protection(item, shorter, user=alice)
    longer = make_policy(vault, daily_retention_days=90)
    job = run_jobs(manage.resume_protection(item, longer, user=alice))[0]
    assert job.status == JobStatus.COMPLETED, job.error_message
    policy.refresh_from_db()
    assert policy.daily_retention_days == 30 and item.recovery_points.count() == 1
    assert policies.update_policy(longer, POLICY | {"name": longer.name, "daily_retention_days": 120})


def test_a_delete_queued_before_the_vault_became_immutable_fails_when_it_runs(backed_up, alice):
    item = backed_up
    job = manage.stop_protection(item, user=alice, delete_data=True)
    immutability(item.vault, "locked")
    job = run_jobs(job)[0]
    assert job.status == JobStatus.FAILED and "locked" in job.error_message
    item.refresh_from_db()
    assert not item.is_soft_deleted and item.recovery_points.count() == 1


def test_disabled_immutability_allows_what_enabled_refused(backed_up, alice):
    item = backed_up
    vault = immutability(item.vault, "enabled")
    safeguards.set_immutability(vault, "disabled", alice)
    item.vault.refresh_from_db()
    job = run_jobs(manage.stop_protection(item, user=alice, delete_data=True))[0]
    assert job.status == JobStatus.COMPLETED
    item.refresh_from_db()
    assert item.is_soft_deleted
