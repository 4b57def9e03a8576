import pytest

from backup.notifications.models import Notification
from backup.vaults import services
from backup.vaults.models import Vault
from tests.worker import wait_for


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_provisions_a_quick_created_vault(celery_worker, alice, alpha):
    vault = services.create_vault(user=alice, subscription=alpha, name="Payroll", region="West US")

    def active():
        vault.refresh_from_db()
        return vault.status == Vault.Status.ACTIVE

    wait_for(active, timeout=60, message="the worker to activate the vault")
    assert (vault.store_path / "chunks").exists() or any(vault.store_path.iterdir())
    note = Notification.objects.get(user=alice, key=f"vault-create-{vault.pk}")
    assert note.level == Notification.Level.SUCCESS
