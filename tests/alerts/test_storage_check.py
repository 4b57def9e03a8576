"""The free-space check measures the file system of folder stores and skips vaults whose store is in a bucket."""

import pytest

from backup.alerts.models import Alert, Kind
from backup.alerts.services import checks
from backup.vaults.models import StorageLocation, Vault
from tests.factories import make_vault

pytestmark = pytest.mark.django_db


def test_a_vault_in_a_bucket_has_no_free_space_to_check(alpha, settings):
    settings.ALERTS_STORAGE_FREE_MIN_PERCENT = 101  # every file system is "nearly full"
    folder = make_vault(alpha, name="OnDisk")
    bucket = StorageLocation.objects.create(name="b", region="East US", kind="bucket", bucket="backups")
    in_bucket = Vault.objects.create(
        subscription=alpha, name="InBucket", region="East US", status=Vault.Status.ACTIVE, primary_location=bucket
    )
    in_bucket.store_path.mkdir(parents=True)  # a folder where its store would be by default is not its store
    checks.check_storage()
    alerts = Alert.objects.filter(kind=Kind.STORAGE_NEARLY_FULL)
    assert [a.item_key for a in alerts] == [f"vault:{folder.pk}"]
    assert in_bucket.in_bucket and not folder.in_bucket
