"""Builders for billing tests: vaults, protected items and recovery points created as rows,
the way the backup and stop-protection flows leave them."""

from datetime import UTC, date, datetime, time
from itertools import count

import pytest
from django.utils import timezone

from backup.billing.services.pricing import GB
from backup.vaults.models import Vault
from backup.vms.models import ProtectedItem, RecoveryPoint, RegisteredItem

_ids = count(1)


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def make_vault(subscription, name="vault-1", redundancy=Vault.Redundancy.GEO) -> Vault:
    # A geo-redundant vault as Quick Create makes it: with its copy in the paired region (billing needs no store).
    geo = redundancy == Vault.Redundancy.GEO
    return Vault.objects.create(subscription=subscription, name=name, region="West US",
                                status=Vault.Status.ACTIVE, redundancy=redundancy,
                                secondary_region="East US" if geo else "",
                                secondary_created_at=timezone.now() if geo else None)


def make_item(vault, vm_name="vm-1", protected_on=date(2015, 6, 1), status=ProtectedItem.Status.PENDING,
              protected_instance_bytes=0) -> ProtectedItem:
    registered = RegisteredItem.objects.create(vault=vault, vm_name=vm_name, cloud_service_name=f"{vm_name}-cs",
                                               status=RegisteredItem.Status.REGISTERED)
    return ProtectedItem.objects.create(vault=vault, registered_item=registered, vm_name=vm_name,
                                        cloud_service_name=f"{vm_name}-cs", status=status,
                                        protected_at=at(protected_on, 1),
                                        protected_instance_bytes=protected_instance_bytes)


def add_point(item, when: datetime, pi_gb: float = 47, logical_gb: float = 47, stored_gb: float = 10) -> RecoveryPoint:
    """Record a successful backup, as the backup job does: a point, and the item protected."""
    point = RecoveryPoint.objects.create(
        vault=item.vault, protected_item=item, registered_item=item.registered_item, vm_name=item.vm_name,
        point_id=f"p{next(_ids)}", created_at=when, consistency=RecoveryPoint.Consistency.APPLICATION,
        logical_bytes=int(logical_gb * GB), stored_bytes_new=int(stored_gb * GB),
        protected_instance_bytes=int(pi_gb * GB),
    )
    item.status = ProtectedItem.Status.PROTECTED
    item.last_backup_at = when
    item.protected_instance_bytes = point.protected_instance_bytes
    item.save()
    return point


@pytest.fixture
def vault(alpha):
    return make_vault(alpha)
