"""The long-term retention rules of a policy: weekly on weekdays, monthly and yearly day- or week-based,
the rules between the schedule and retention, their words, and the points pruning keeps. Through the
services, the forms, the API and the CLI, which all say the same thing at the same field."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from backup import engine
from backup.jobs.models import Job, Operation
from backup.vms.models import BackupPolicy, RecoveryPoint
from backup.vms.services import policies, retention
from tests.factories import make_policy, make_protected_item

SUNDAY, WEDNESDAY, SATURDAY = 6, 2, 5
# The product's example: daily 30 days, weekly Sunday 104 weeks, monthly last Sunday 120 months, yearly
# first Sunday of January 99 years.
EXAMPLE = {
    "name": "Example", "frequency": "daily", "time_of_day": "22:00", "timezone": "UTC",
    "daily_retention_days": 30, "weekly_retention_weeks": 104, "weekly_retention_days": [SUNDAY],
    "monthly_retention_months": 120, "monthly_retention_format": "week",
    "monthly_retention_weeks_of_month": ["Last"], "monthly_retention_days_of_week": [SUNDAY],
    "yearly_retention_years": 99, "yearly_retention_format": "week", "yearly_retention_months": [1],
    "yearly_retention_weeks_of_month": ["First"], "yearly_retention_days_of_week": [SUNDAY],
}
WEEKLY = {"name": "Weekend", "frequency": "weekly", "days_of_week": [SATURDAY, SUNDAY], "time_of_day": "06:00",
          "timezone": "UTC", "weekly_retention_weeks": 10}


def errors_of(vault, data) -> dict:
    with pytest.raises(ValidationError) as error:
        policies.create_policy(vault, data)
    return error.value.message_dict


def test_the_products_example_is_kept_and_told_in_words(vms_vault):
    policy = policies.create_policy(vms_vault, EXAMPLE)
    assert policies.describe_retention(policy) == [
        "Daily: 30 days", "Weekly: 104 weeks on Sunday", "Monthly: 120 months on the last Sunday",
        "Yearly: 99 years on the first Sunday of January"]


def test_day_based_rules_in_words(vms_vault):
    policy = policies.create_policy(vms_vault, EXAMPLE | {
        "monthly_retention_format": "day", "monthly_retention_days_of_month": ["Last", "1", 15],
        "yearly_retention_format": "day", "yearly_retention_days_of_month": [1], "yearly_retention_months": [1, 7]})
    assert policy.monthly_retention_days_of_month == [1, 15, engine.LAST_DAY]
    assert policies.describe_retention(policy)[2:] == [
        "Monthly: 120 months on day 1 and 15 and the last day", "Yearly: 99 years on day 1 of January and July"]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"weekly_retention_days": [9]}, "weekly_retention_days",
     "Days of the week are numbers from 0 (Monday) to 6 (Sunday)."),
    ({"monthly_retention_format": "fortnight"}, "monthly_retention_format",
     "Choose day-based or week-based for the monthly retention rule."),
    ({"monthly_retention_format": "day", "monthly_retention_days_of_month": []}, "monthly_retention_days_of_month",
     "Choose the days of the month the monthly retention rule keeps (1 to 28, or Last)."),
    ({"monthly_retention_format": "day", "monthly_retention_days_of_month": [29]}, "monthly_retention_days_of_month",
     "Days of the month are 1 to 28, or Last."),
    ({"monthly_retention_weeks_of_month": []}, "monthly_retention_weeks_of_month",
     "Choose the weeks of the month the monthly retention rule keeps (First to Fourth, or Last)."),
    ({"monthly_retention_weeks_of_month": ["Fifth"]}, "monthly_retention_weeks_of_month",
     "Weeks of the month are First, Second, Third, Fourth or Last."),
    ({"monthly_retention_days_of_week": []}, "monthly_retention_days_of_week",
     "Choose the days of the week the monthly retention rule keeps."),
    ({"yearly_retention_months": []}, "yearly_retention_months",
     "Choose the months of the year the yearly retention rule keeps."),
    ({"yearly_retention_months": [13]}, "yearly_retention_months",
     "Months of the year are 1 (January) to 12 (December)."),
    ({"yearly_retention_days_of_week": ["Funday"]}, "yearly_retention_days_of_week",
     "Days of the week are numbers from 0 (Monday) to 6 (Sunday)."),
])
def test_each_rule_refuses_bad_days_at_its_field(vms_vault, changes, field, message):
    assert errors_of(vms_vault, EXAMPLE | changes) == {field: [message]}


def test_a_weekly_schedule_gives_its_days_to_the_weekly_rule(vms_vault):
    policy = policies.create_policy(vms_vault, WEEKLY)
    assert policy.weekly_retention_days == [SATURDAY, SUNDAY]
    assert policies.describe_retention(policy) == ["Weekly: 10 weeks on Saturday and Sunday"]


def test_a_weekly_schedule_needs_its_days_in_the_weekly_rule(vms_vault):
    errors = errors_of(vms_vault, WEEKLY | {"weekly_retention_days": [SUNDAY]})
    assert errors == {"weekly_retention_days": [
        "With a weekly backup schedule, the weekly retention rule keeps the backups of the schedule's days: "
        "choose the same days (Saturday, Sunday)."]}


def test_a_weekly_schedule_forbids_a_daily_rule(vms_vault):
    errors = errors_of(vms_vault, WEEKLY | {"daily_retention_days": 7})
    assert errors["daily_retention_days"] == [
        "A weekly backup schedule cannot have a daily retention rule; clear this field."]


def test_a_weekly_schedule_forbids_day_based_rules(vms_vault):
    errors = errors_of(vms_vault, WEEKLY | {
        "monthly_retention_months": 12, "monthly_retention_format": "day", "monthly_retention_days_of_month": [1],
        "yearly_retention_years": 2, "yearly_retention_format": "day", "yearly_retention_days_of_month": [1],
        "yearly_retention_months": [1]})
    assert errors == {
        "monthly_retention_format": [
            "A weekly backup schedule cannot have a day-based monthly retention rule: choose week-based."],
        "yearly_retention_format": [
            "A weekly backup schedule cannot have a day-based yearly retention rule: choose week-based."]}


def test_a_weekly_schedule_keeps_monthly_and_yearly_weekdays_among_its_days(vms_vault):
    week_based = {"monthly_retention_months": 12, "monthly_retention_format": "week",
                  "monthly_retention_weeks_of_month": ["Last"], "monthly_retention_days_of_week": [WEDNESDAY],
                  "yearly_retention_years": 2, "yearly_retention_format": "week", "yearly_retention_months": [1],
                  "yearly_retention_weeks_of_month": ["First"], "yearly_retention_days_of_week": [SUNDAY]}
    errors = errors_of(vms_vault, WEEKLY | week_based)
    assert errors == {"monthly_retention_days_of_week": [
        "With a weekly backup schedule, the monthly retention rule can keep only the schedule's days "
        "(Saturday, Sunday)."]}
    policy = policies.create_policy(vms_vault, WEEKLY | week_based | {"monthly_retention_days_of_week": [SATURDAY]})
    assert policies.describe_retention(policy)[1:] == [
        "Monthly: 12 months on the last Saturday", "Yearly: 2 years on the first Sunday of January"]


def test_count_only_policies_keep_their_meaning(vms_vault):
    """Policies from before the formats (and API clients that send only counts): the newest point of each
    week, month and year, as before."""
    policy = make_policy(vms_vault, daily_retention_days=7, weekly_retention_weeks=4, monthly_retention_months=3,
                         yearly_retention_years=2)
    assert policies.retention_rules(policy) == engine.RetentionPolicy(7, 4, 3, 2)
    assert policies.describe_retention(policy) == ["Daily: 7 days", "Weekly: 4 weeks", "Monthly: 3 months",
                                                   "Yearly: 2 years"]
    same = policies.update_policy(policy, {field: getattr(policy, field) for field in policies.POLICY_FIELDS})
    assert policies.retention_rules(same) == engine.RetentionPolicy(7, 4, 3, 2)


@pytest.mark.parametrize(("changes", "reduced"), [
    ({}, False),
    ({"daily_retention_days": 60}, False),
    ({"daily_retention_days": 10}, True),
    ({"weekly_retention_weeks": None, "weekly_retention_days": []}, True),
    ({"weekly_retention_days": [WEDNESDAY, SUNDAY]}, False),
    ({"weekly_retention_days": [WEDNESDAY]}, True),
    ({"monthly_retention_weeks_of_month": ["First", "Last"]}, False),
    ({"monthly_retention_format": "day", "monthly_retention_days_of_month": [1]}, True),
    ({"monthly_retention_days_of_week": [SATURDAY]}, True),
    ({"yearly_retention_months": [1, 7]}, False),
    ({"yearly_retention_months": [7]}, True),
    ({"yearly_retention_years": 98}, True),
])
def test_retention_reduced_says_when_new_rules_keep_less(vms_vault, changes, reduced):
    old = policies.create_policy(vms_vault, EXAMPLE)
    new = policies.clean_policy(vms_vault, EXAMPLE | changes, instance=old)
    assert policies.retention_reduced(old, new) is reduced


def test_pruning_keeps_exactly_the_rules_points_on_the_policys_calendar(alpha, vms_vault):
    item = make_protected_item(alpha, os_mib=0.25, data_mib=0)
    item.policy = policies.create_policy(item.vault, EXAMPLE | {
        "timezone": "Asia/Tokyo", "daily_retention_days": 2, "weekly_retention_weeks": 3,
        "monthly_retention_months": 2})
    item.save()
    now = datetime(2025, 6, 15, 3, 0, tzinfo=UTC)  # Sunday noon in Tokyo
    for day in range(70):
        # 21:00 UTC: the next morning in Tokyo, so each point's Tokyo day is one after its UTC day.
        taken = datetime(2025, 6, 14, 21, 0, tzinfo=UTC) - timedelta(days=day)
        RecoveryPoint.objects.create(vault=item.vault, protected_item=item, vm_name=item.vm_name,
                                     point_id=f"p{day}", created_at=taken, consistency="crash")
    kept = {p.created_at.astimezone(retention.policy_now(item.policy).tzinfo).date().isoformat()
            for p in item.recovery_points.all()} - {
        p.created_at.astimezone(retention.policy_now(item.policy).tzinfo).date().isoformat()
        for p in retention.points_to_prune(item, now)}
    assert kept == {"2025-06-15", "2025-06-14",  # daily 2 days
                    "2025-06-08", "2025-06-01",  # weekly: Sundays of this week and the two before
                    "2025-05-25"}  # monthly: the last Sunday of May (June's is still to come)


# -- forms, wizard, API, CLI -------------------------------------------------------------------------------
FORM = {"name": "Example", "frequency": "daily", "time_of_day": "22:00", "timezone": "UTC",
        "daily_retention_days": "30", "weekly_retention_weeks": "104", "weekly_retention_days": ["6"],
        "monthly_retention_months": "120", "monthly_retention_format": "week",
        "monthly_retention_weeks_of_month": ["Last"], "monthly_retention_days_of_week": ["6"],
        "yearly_retention_years": "99", "yearly_retention_format": "day", "yearly_retention_months": ["1"],
        "yearly_retention_days_of_month": ["1"]}


def test_policy_form_creates_the_rules_and_the_list_tells_them(alice_client, vms_vault):
    r = alice_client.post(reverse("vault-policy-create", args=[vms_vault.pk]), FORM, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r["HX-Redirect"]
    policy = BackupPolicy.objects.get(name="Example")
    assert policy.yearly_retention_days_of_month == [1] and policy.monthly_retention_weeks_of_month == ["Last"]
    text = alice_client.get(reverse("vault-policies", args=[vms_vault.pk])).content.decode()
    assert "Monthly: 120 months on the last Sunday" in text and "Yearly: 99 years on day 1 of January" in text
    edit = alice_client.get(reverse("vault-policy-edit", args=[vms_vault.pk, policy.pk])).content.decode()
    assert 'name="monthly_retention_weeks_of_month" value="Last"' in edit


def test_policy_form_says_each_schedule_rule_at_its_field(alice_client, vms_vault):
    data = FORM | {"frequency": "weekly", "days_of_week": ["5"], "daily_retention_days": "",
                   "weekly_retention_days": ["6"]}
    text = alice_client.post(reverse("vault-policy-create", args=[vms_vault.pk]), data).content.decode()
    assert 'data-field="weekly_retention_days"' in text and "choose the same days (Saturday)" in text
    assert 'data-field="monthly_retention_days_of_week"' in text
    assert 'data-field="yearly_retention_format"' in text and "choose week-based" in text
    assert not BackupPolicy.objects.filter(name="Example").exists()


def test_protect_wizard_defines_a_policy_with_the_rules(alice, alice_client, alpha, vms_vault):
    from backup.vms.services import registration

    from .helpers import make_vm, run_jobs

    vm = make_vm(alpha, name="payroll-db", files=False)
    run_jobs(registration.start_registration(vms_vault, [vm.pk], alice))
    data = {"vm": [str(vm.pk)], "mode": "new", "step": "3", **{f"new-{k}": v for k, v in FORM.items()}}
    data["new-monthly_retention_days_of_week"] = []
    text = alice_client.post(reverse("vault-protect", args=[vms_vault.pk]), data).content.decode()
    assert "Choose the days of the week the monthly retention rule keeps." in text
    data["new-monthly_retention_days_of_week"] = ["6"]
    alice_client.post(reverse("vault-protect", args=[vms_vault.pk]), data, headers={"HX-Request": "true"})
    policy = BackupPolicy.objects.get(name="Example")
    assert policy.monthly_retention_days_of_week == [SUNDAY]
    run_jobs(list(Job.objects.filter(operation=Operation.CONFIGURE_PROTECTION)))
    assert policy.protected_items.count() == 1


def test_api_takes_and_gives_the_rules(client, alice, api_headers, vms_vault):
    auth = api_headers(alice)
    base = f"/api/v1/vaults/{vms_vault.pk}/policies"
    body = EXAMPLE | {"monthly_retention_format": "day", "monthly_retention_days_of_month": [1, "Last"]}
    r = client.post(base, body, content_type="application/json", headers=auth)
    assert r.status_code == 201, r.content
    out = r.json()
    assert out["monthly_retention_days_of_month"] == [1, "Last"] and out["yearly_retention_months"] == [1]
    assert out["retention"][2] == "Monthly: 120 months on day 1 and the last day"
    bad = client.put(f"{base}/{out['id']}", body | {"yearly_retention_weeks_of_month": ["Fifth"]},
                     content_type="application/json", headers=auth)
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"yearly_retention_weeks_of_month": [
        "Weeks of the month are First, Second, Third, Fourth or Last."]}


def _cli(*args) -> str:
    out = io.StringIO()
    call_command("backup", "--user", "alice", *args, stdout=out)
    return out.getvalue()


def test_cli_creates_shows_and_updates_the_rules(alice, vms_vault):
    vault = str(vms_vault.pk)
    data = json.loads(_cli("policy", "create", "--vault", vault, "--name", "Weekend", "--weekly", "Sunday",
                           "--time", "06:00", "--weekly-weeks", "104", "--monthly-months", "120",
                           "--monthly-weeks", "Last", "--monthly-weekdays", "sun", "--yearly-years", "99",
                           "--yearly-in", "January", "--yearly-weeks", "First", "--yearly-weekdays", "Sunday",
                           "--json"))
    assert data["retention"] == ["Weekly: 104 weeks on Sunday", "Monthly: 120 months on the last Sunday",
                                 "Yearly: 99 years on the first Sunday of January"]
    shown = _cli("policy", "show", "Weekend", "--vault", vault)
    assert "Weekly on Sunday at 06:00 (UTC)" in shown and "Monthly: 120 months on the last Sunday" in shown
    assert "Yearly: 99 years on the first Sunday" in _cli("policy", "list", "--vault", vault)
    updated = json.loads(_cli("policy", "update", "Weekend", "--vault", vault, "--yearly-years", "none", "--json"))
    assert updated["yearly_retention_years"] is None and len(updated["retention"]) == 2


def test_cli_refuses_bad_rules_with_the_fields_message(alice, vms_vault):
    with pytest.raises(CommandError) as error:
        _cli("policy", "create", "--vault", str(vms_vault.pk), "--name", "Weekend", "--weekly", "Saturday",
             "--weekly-weeks", "4", "--monthly-months", "3", "--monthly-days", "1")
    assert str(error.value) == ("monthly_retention_format: A weekly backup schedule cannot have a day-based "
                                "monthly retention rule: choose week-based.")
    with pytest.raises(CommandError, match="not both"):
        _cli("policy", "create", "--vault", str(vms_vault.pk), "--name", "Nightly", "--daily-days", "7",
             "--monthly-months", "3", "--monthly-days", "1", "--monthly-weeks", "Last")
    with pytest.raises(CommandError) as missing:
        _cli("policy", "show", "Nope", "--vault", str(vms_vault.pk))
    assert missing.value.returncode == 3


def test_editing_an_older_weekly_policy_does_not_keep_less(vms_vault):
    """An older weekly-schedule policy gets its schedule's days in its weekly rule when edited: it keeps at
    least what it kept (the newest point of each week is on one of those days)."""
    policy = make_policy(vms_vault, name="Weekend", frequency="weekly", days_of_week=[SATURDAY, SUNDAY],
                         daily_retention_days=None, weekly_retention_weeks=10)
    renamed = policies.clean_policy(vms_vault, WEEKLY | {"name": "Weekends"}, instance=policy)
    assert renamed["weekly_retention_days"] == [SATURDAY, SUNDAY]
    assert not policies.retention_reduced(policy, renamed)
    daily = make_policy(vms_vault, name="Nightly", daily_retention_days=7, weekly_retention_weeks=4)
    on_sunday = policies.clean_policy(vms_vault, {"name": "Nightly", "time_of_day": "22:00", "daily_retention_days": 7,
                                                  "weekly_retention_weeks": 4, "weekly_retention_days": [SUNDAY]},
                                      instance=daily)
    assert policies.retention_reduced(daily, on_sunday)  # a week whose Sunday failed kept its Saturday
