"""Change-rate and encryption anomalies: a simulated machine whose disks are encrypted in place (random bytes
over most of its data) makes a suspicious point, a security alert and a retention hold; normal days do not."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from backup.alerts.models import Alert, Kind
from backup.fabric.disks import Disk
from backup.guard.models import AuditEvent
from backup.jobs.errors import Refused
from backup.vms.models import PointAnomaly
from backup.vms.services import anomaly, guest, retention
from tests.factories import make_protected_item
from tests.vms.restore_helpers import (
    back_up,
    clean_fabric,  # noqa: F401  (autouse)
)


def encrypt_disks(vm, share: float = 0.97) -> None:
    """What ransomware does to a guest: overwrite most of each disk's data with ciphertext (random bytes)."""
    rng = random.Random(7)
    for disk in vm.disks.all():
        image = Disk.open(disk.path)
        for offset, length in image.data_ranges():
            n = int(length * share) // 4096 * 4096
            for pos in range(0, n, 1 << 20):
                image.write(offset + pos, rng.randbytes(min(1 << 20, n - pos)))


@pytest.fixture
def history(alpha, alice):
    """An item with a few days of normal backups (guest writes between them)."""
    item = make_protected_item(alpha, os_mib=40, data_mib=20)
    points = [back_up(item, alice)]
    for day in range(4):
        guest.write_guest_files(item.vm, files=3, rng=random.Random(day))
        points.append(back_up(item, alice))
    return item, points


def test_normal_writes_raise_nothing(history):
    assert not PointAnomaly.objects.exists()
    assert not Alert.objects.filter(kind=Kind.SUSPICIOUS_BACKUP).exists()


def test_encrypted_disks_make_a_suspicious_point_an_alert_and_a_hold(history, alice, sue, resource_guard):
    item, points = history
    encrypt_disks(item.vm)
    point = back_up(item, alice)
    found = PointAnomaly.objects.get(point=point)
    assert found.state == PointAnomaly.State.SUSPICIOUS
    assert found.changed_share > 0.5 and found.new_data_ratio > 0.9, found.summary
    alert = Alert.objects.get(kind=Kind.SUSPICIOUS_BACKUP)
    assert alert.state == Alert.State.ACTIVE and "near incompressible" in alert.message
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.POINT_SUSPICIOUS).exists()

    later = timezone.now() + timedelta(days=400)  # every older point has expired by then
    item.refresh_from_db()
    assert retention.points_to_prune(item, later) == []
    with pytest.raises(Refused, match="Only the security role"):
        anomaly.decide(found, alice, confirm=False, reason="looks fine")
    anomaly.decide(found, sue, confirm=True, reason="the host was attacked; restore from before")
    assert retention.points_to_prune(item, later) == []  # confirmed: the clean points before it stay
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED and "Confirmed" in alert.resolution


def test_dismissing_a_suspicious_point_ends_the_hold(history, alice, sue, resource_guard):
    item, points = history
    encrypt_disks(item.vm)
    found = PointAnomaly.objects.get(point=back_up(item, alice))
    later = timezone.now() + timedelta(days=400)
    item.refresh_from_db()
    assert retention.points_to_prune(item, later) == []
    anomaly.decide(found, sue, confirm=False, reason="a planned re-encryption of the volume")
    assert {p.pk for p in retention.points_to_prune(item, later)} == {p.pk for p in points}


def test_without_a_guard_the_superusers_decide(history, alice, django_user_model):
    item, _ = history
    encrypt_disks(item.vm)
    found = PointAnomaly.objects.get(point=back_up(item, alice))
    root = django_user_model.objects.create_superuser("root")
    anomaly.decide(found, root, confirm=False, reason="a planned re-encryption of the volume")
    assert PointAnomaly.objects.get(pk=found.pk).state == PointAnomaly.State.DISMISSED


def test_the_security_role_decides_through_the_api_and_the_cli(client, history, alice, sue, resource_guard,
                                                                 api_headers):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    item, _ = history
    encrypt_disks(item.vm)
    point = back_up(item, alice)
    listed = client.get("/api/v1/suspicious-points", headers=api_headers(sue)).json()
    assert [row["recovery_point_id"] for row in listed] == [point.pk] and listed[0]["state"] == "suspicious"
    points = client.get(f"/api/v1/vaults/{item.vault_id}/recovery-points", headers=api_headers(alice)).json()
    assert points[0]["suspicious"] == "suspicious" and points[1]["suspicious"] == ""
    refused = client.post(f"/api/v1/suspicious-points/{listed[0]['id']}/dismiss", {"reason": "fine"},
                          content_type="application/json", headers=api_headers(alice))
    assert refused.status_code == 400 and "Only the security role" in refused.json()["detail"]
    with pytest.raises(CommandError, match="reason"):
        call_command("backup", "--user", "sue", "suspicious", "confirm", str(listed[0]["id"]), "--reason", " ",
                     stdout=io.StringIO())
    out = io.StringIO()
    call_command("backup", "--user", "sue", "suspicious", "confirm", str(listed[0]["id"]), "--reason", "attack",
                 stdout=out)
    assert "Confirmed" in out.getvalue()
    assert PointAnomaly.objects.get().state == PointAnomaly.State.CONFIRMED
