"""The ALERTS tab, the dashboard's alerts tile, acknowledging, and the API."""

import pytest

from backup.alerts.models import Alert, Kind
from backup.alerts.services import incidents
from tests.factories import make_vault

pytestmark = pytest.mark.django_db


def _alert(vault, kind=Kind.BACKUP_FAILED, key="vm:1", **fields):
    return incidents.raise_alert(subscription_id=vault.subscription_id, vault_id=vault.pk, kind=kind, item_key=key,
                                 item_name="web-01", operation="Backup", message="It failed.", job_id=77, **fields)


def test_the_alerts_tab_lists_active_and_resolved_alerts_and_acknowledges(alice_client, alice, alpha):
    vault = make_vault(alpha)
    failed = _alert(vault)
    _alert(vault, kind=Kind.STALE_PROTECTION, key="vm:2")
    incidents.resolve(kind=Kind.STALE_PROTECTION, item_key="vm:2", resolution="A new recovery point was made.")
    page = alice_client.get(f"/vaults/{vault.pk}/alerts/")
    html = page.content.decode()
    assert page.status_code == 200 and "ALERTS</a>" in html
    assert f'id="alert-row-{failed.pk}"' in html and "Backup failure" in html and "/jobs/77/" in html
    assert "Stale protection" not in html
    resolved = alice_client.get(f"/vaults/{vault.pk}/alerts/?state=resolved").content.decode()
    assert "Stale protection" in resolved and "A new recovery point was made." in resolved

    response = alice_client.post(f"/vaults/{vault.pk}/alerts/", {"alert": failed.pk})
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.acknowledged_by == alice and failed.state == "active"  # its cause has not gone
    assert alice_client.post(f"/vaults/{vault.pk}/alerts/", {"alert": "nope"}).status_code == 404
    other = make_vault(alpha)
    assert alice_client.post(f"/vaults/{other.pk}/alerts/", {"alert": failed.pk}).status_code == 404


def test_the_dashboard_loads_the_alert_counts(alice_client, alpha):
    vault = make_vault(alpha)
    _alert(vault)
    _alert(vault, kind=Kind.STORAGE_NEARLY_FULL, key=f"vault:{vault.pk}")
    incidents.resolve(kind=Kind.STORAGE_NEARLY_FULL, item_key=f"vault:{vault.pk}", resolution="ok")
    dashboard = alice_client.get(f"/vaults/{vault.pk}/dashboard/").content.decode()
    assert f'hx-get="/vaults/{vault.pk}/alerts/tile/"' in dashboard
    tile = alice_client.get(f"/vaults/{vault.pk}/alerts/tile/").content.decode()
    assert '<strong>1</strong>' in tile and "1 critical" in tile and "Resolved (24 h)" in tile


def test_the_api_lists_and_acknowledges_a_vaults_alerts(client, alice, charlie, alpha, api_headers):
    vault = make_vault(alpha)
    alert = _alert(vault, kind=Kind.BACKUP_DATA_DELETED)
    auth = {"HTTP_AUTHORIZATION": api_headers(alice)["Authorization"]}
    [listed] = client.get(f"/api/v1/vaults/{vault.pk}/alerts", **auth).json()
    assert listed["id"] == alert.pk and listed["security"] is True and listed["job_id"] == 77
    [acked] = client.post(f"/api/v1/vaults/{vault.pk}/alerts/acknowledge", {"alert_ids": [alert.pk]},
                          content_type="application/json", **auth).json()
    assert acked["state"] == "resolved" and acked["acknowledged_at"]
    assert client.get(f"/api/v1/vaults/{vault.pk}/alerts", **auth).json() == []
    assert len(client.get(f"/api/v1/vaults/{vault.pk}/alerts?state=all", **auth).json()) == 1
    outsider = {"HTTP_AUTHORIZATION": api_headers(charlie)["Authorization"]}
    assert client.get(f"/api/v1/vaults/{vault.pk}/alerts", **outsider).status_code == 404
    bad = client.post(f"/api/v1/vaults/{vault.pk}/alerts/acknowledge", {"alert_ids": "x"},
                      content_type="application/json", **auth)
    assert bad.status_code == 422 and Alert.objects.count() == 1  # ninja refuses the body's shape
