import pytest
from django.core.exceptions import ValidationError

from backup.jobs.models import Job, JobStatus, Operation
from backup.notifications.models import Notification
from backup.vaults import services
from backup.vaults.models import Vault


def create(user, subscription, name="Vault-1", region="West US"):
    return services.create_vault(user=user, subscription=subscription, name=name, region=region)


@pytest.mark.parametrize("name", ["ab", "A" * 50, "vault-01", "Z9", "a-b-c"])
def test_quick_create_accepts_valid_names(alice, alpha, name):
    vault = create(alice, alpha, name=name)
    assert vault.status == Vault.Status.CREATING
    assert vault.name == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("a", "between 2 and 50"),
        ("A" * 51, "between 2 and 50"),
        ("1vault", "start with a letter"),
        ("-vault", "start with a letter"),
        ("my_vault", "only letters, digits and hyphens"),
        ("my vault", "only letters, digits and hyphens"),
        ("../etc", "start with a letter"),
        ("vault\x00x", "only letters, digits and hyphens"),
        ("vaulté", "only letters, digits and hyphens"),
    ],
)
def test_quick_create_rejects_bad_names_at_the_name_field(alice, alpha, name, fragment):
    with pytest.raises(ValidationError) as error:
        create(alice, alpha, name=name)
    assert fragment in error.value.message_dict["name"][0]
    assert not Vault.objects.exists()


def test_quick_create_rejects_duplicate_name_in_same_subscription_case_insensitively(alice, alpha):
    create(alice, alpha, name="Payroll")
    with pytest.raises(ValidationError) as error:
        create(alice, alpha, name="PAYROLL")
    assert "already exists in this subscription" in error.value.message_dict["name"][0]
    assert Vault.objects.count() == 1


def test_same_name_may_exist_in_another_subscription(alice, alpha, beta):
    create(alice, alpha, name="Payroll")
    create(alice, beta, name="payroll")
    assert Vault.objects.count() == 2


def test_quick_create_refuses_a_subscription_the_user_does_not_belong_to(alice, gamma):
    with pytest.raises(ValidationError) as error:
        create(alice, gamma)
    assert "subscription" in error.value.message_dict


def test_quick_create_refuses_an_unknown_region(alice, alpha):
    with pytest.raises(ValidationError) as error:
        create(alice, alpha, region="Mars Central")
    assert "region" in error.value.message_dict


def test_quick_create_refuses_a_26th_vault(alice, alpha):
    for i in range(services.MAX_VAULTS_PER_SUBSCRIPTION):
        Vault.objects.create(subscription=alpha, name=f"v{i}", region="West US")
    with pytest.raises(ValidationError) as error:
        create(alice, alpha)
    assert "25 backup vaults" in error.value.message_dict["subscription"][0]


def test_quick_create_shows_a_creating_toast_at_once(alice, alpha):
    vault = create(alice, alpha, name="Payroll")
    note = Notification.objects.get(user=alice, key=f"vault-create-{vault.pk}")
    assert note.level == Notification.Level.PROGRESS
    assert note.title == "Creating backup vault 'Payroll'…"


def test_quick_create_enqueues_provisioning_on_commit(alice, alpha, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("backup.jobs.tasks.run_job.delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        vault = create(alice, alpha)
    job = Job.objects.get(operation=Operation.CREATE_VAULT, vault_id=vault.pk)
    assert sent == [job.pk]
    assert job.status == JobStatus.IN_PROGRESS and job.item_name == vault.name


def test_provisioning_initialises_the_store_and_activates_the_vault(alice, alpha):
    vault = create(alice, alpha)
    services.provision_vault(vault.pk)
    vault.refresh_from_db()
    assert vault.status == Vault.Status.ACTIVE
    assert vault.store_path.is_dir()
    assert vault.store_path.name == f"vault-{vault.pk}"
    note = Notification.objects.get(user=alice, key=f"vault-create-{vault.pk}")
    assert note.level == Notification.Level.SUCCESS
    assert note.title == "Successfully created backup vault 'Vault-1'"


def test_provisioning_twice_is_harmless(alice, alpha):
    vault = create(alice, alpha)
    services.provision_vault(vault.pk)
    services.provision_vault(vault.pk)
    vault.refresh_from_db()
    assert vault.status == Vault.Status.ACTIVE


def test_provisioning_failure_marks_the_vault_failed_with_the_reason(alice, alpha, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the storage root should be")
    settings.VAULT_STORAGE_ROOT = blocker
    vault = create(alice, alpha)
    services.provision_vault(vault.pk)
    vault.refresh_from_db()
    assert vault.status == Vault.Status.FAILED
    assert "could not be initialised" in vault.status_reason
    note = Notification.objects.get(user=alice, key=f"vault-create-{vault.pk}")
    assert note.level == Notification.Level.ERROR
