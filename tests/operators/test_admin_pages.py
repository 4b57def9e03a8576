"""Every model in the admin: operators see lists and records, Support only looks, others are refused."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from backup.jobs.models import Job
from backup.tenancy.signals import PROJECT_APPS
from backup.vms.models import RecoveryPoint

# Models of the other installed apps (django-axes, ...) stay for superusers only.
REGISTERED = sorted((m._meta.app_label, m._meta.model_name) for m in admin.site._registry
                    if m._meta.app_label in (*PROJECT_APPS, "auth"))
READ_ONLY = [("jobs", "job"), ("jobs", "subtask"), ("vms", "recoverypoint"), ("billing", "dailyusage")]


def _model(app_label: str, model_name: str):
    return next(m for m in admin.site._registry if (m._meta.app_label, m._meta.model_name) == (app_label,
                                                                                                model_name))


def test_every_project_model_is_registered():
    labels = {label for label, _ in REGISTERED}
    assert {"tenancy", "notifications", "jobs", "vaults", "vms", "billing", "django_celery_beat"} <= labels


@pytest.mark.parametrize(("app_label", "model_name"), REGISTERED)
def test_operators_and_support_see_the_list_and_a_record_of_every_model(operator, support, fleet, app_label,
                                                                        model_name):
    obj = _model(app_label, model_name).objects.order_by("pk").first()
    for user in (operator, support):
        client = Client()
        client.force_login(user)
        assert client.get(reverse(f"admin:{app_label}_{model_name}_changelist")).status_code == 200
        if obj is not None:
            assert client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])).status_code == 200


def test_plain_user_is_sent_to_the_admin_sign_in(alice_client, fleet):
    for url in (reverse("admin:jobs_job_changelist"), reverse("admin:index"), reverse("admin-overview")):
        response = alice_client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_support_cannot_change_a_vault(support_client, fleet):
    vault = fleet["vault"]
    url = reverse("admin:vaults_vault_change", args=[vault.pk])
    page = support_client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    response = support_client.post(url, {"name": "Renamed", "region": vault.region, "status": vault.status,
                                         "redundancy": vault.redundancy, "subscription": vault.subscription_id,
                                         "created_at_0": "2015-06-01", "created_at_1": "10:00:00"})
    assert response.status_code == 403
    vault.refresh_from_db()
    assert vault.name != "Renamed"


@pytest.mark.parametrize(("app_label", "model_name"), READ_ONLY)
def test_history_cannot_be_changed_even_by_a_superuser(client, fleet, app_label, model_name, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.org", "pw-Root-123456")
    client.force_login(root)
    obj = _model(app_label, model_name).objects.order_by("pk").first()
    change = reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(change, {}).status_code == 403
    assert client.get(reverse(f"admin:{app_label}_{model_name}_add")).status_code == 403
    assert client.post(reverse(f"admin:{app_label}_{model_name}_delete", args=[obj.pk]), {"post": "yes"}
                       ).status_code == 403
    assert _model(app_label, model_name).objects.filter(pk=obj.pk).exists()


def test_job_list_shows_useful_columns_and_filters(operator_client, fleet):
    page = operator_client.get(reverse("admin:jobs_job_changelist"), {"status__exact": "failed"})
    assert b"Boom" in page.content
    assert b"By status" in page.content
    assert Job.objects.count() == 1 and RecoveryPoint.objects.count() == 1
