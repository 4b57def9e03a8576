"""SECURITY in the portal: the security role decides approval requests and suspicious points there, each
requester follows their own requests; Protected Items and the item's page mark suspicious points."""

import html
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backup.guard.models import ApprovalRequest
from backup.vms.models import PointAnomaly
from backup.vms.services import manage
from tests.vms.restore_helpers import back_up, clean_fabric  # noqa: F401  (autouse)

URL = "/security/"


@pytest.fixture
def sue_client(client, sue):
    client.force_login(sue)
    return client


def _ask(alice, item, reason: str = "VM decommissioned") -> ApprovalRequest:
    from backup.guard.services import ApprovalRequired
    from backup.jobs.asking import asking_first

    with asking_first(reason), pytest.raises(ApprovalRequired) as refusal:
        manage.stop_protection(item, user=alice, delete_data=True)
    return refusal.value.request


def test_the_page_is_in_the_shells_navigation(alice_client):
    page = alice_client.get(reverse("home"))
    assert f'href="{URL}"'.encode() in page.content and b"SECURITY" in page.content


def test_the_security_role_sees_waiting_requests_and_approves_with_a_reason(client, alice, sue, item):
    request = _ask(alice, item)
    client.force_login(sue)
    page = client.get(URL).content.decode()
    assert f'id="request-{request.pk}"' in page and "VM decommissioned" in page and "alice" in page
    url = reverse("security-decide-request", args=[request.pk])
    refused = client.post(url, {"decision": "approve", "reason": " "})
    assert refused.status_code == 400 and "Give the reason for your decision." in refused.content.decode()
    done = client.post(url, {"decision": "approve", "reason": "change 311"})
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.APPROVED and request.decided_by == sue
    page = client.get(done["Location"]).content.decode()
    assert f'id="request-{request.pk}"' not in page and f'id="decided-{request.pk}"' in page


def test_a_rejection_shows_to_the_requester_with_its_reason(client, alice, sue, item):
    request = _ask(alice, item)
    client.force_login(sue)
    client.post(reverse("security-decide-request", args=[request.pk]), {"decision": "reject", "reason": "no ticket"})
    client.force_login(alice)
    page = client.get(URL).content.decode()
    assert f'id="my-request-{request.pk}"' in page and "Rejected" in page and "no ticket" in page


def test_the_requester_cannot_decide_and_sees_the_state_of_their_requests(alice_client, alice, item, approve):
    request = _ask(alice, item)
    page = alice_client.get(URL).content.decode()
    assert 'id="awaiting-requests"' not in page and "Pending approval" in page
    refused = alice_client.post(reverse("security-decide-request", args=[request.pk]),
                                {"decision": "approve", "reason": "mine"})
    assert refused.status_code == 400 and "Only a member of 'Security'" in html.unescape(refused.content.decode())
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalRequest.Status.PENDING
    approve(request.pk)
    assert "Run the operation again before" in alice_client.get(URL).content.decode()
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert "Approval expired" in alice_client.get(URL).content.decode()


def test_others_cannot_reach_a_request(client, alice, bob, item, django_user_model):
    request = _ask(alice, item)
    client.force_login(bob)
    assert client.post(reverse("security-decide-request", args=[request.pk]),
                       {"decision": "approve", "reason": "x"}).status_code == 404
    assert f"request-{request.pk}" not in client.get(URL).content.decode()


@pytest.fixture
def suspicious(item, alice):
    back_up(item, alice)
    point = back_up(item, alice)
    return PointAnomaly.objects.create(point=point, vault=item.vault, protected_item=item, vm_name=item.vm_name,
                                       changed_share=0.97, new_data_ratio=1.0, usual_changed_share=0.05,
                                       usual_new_data_ratio=0.4)


def test_protected_items_and_the_item_page_mark_a_suspicious_point(alice_client, item, suspicious):
    listing = alice_client.get(reverse("vault-protected", args=[item.vault_id])).content.decode()
    assert "mark-suspicious" in listing
    page = alice_client.get(reverse("vault-protected-item", args=[item.vault_id, item.pk])).content.decode()
    assert f'id="suspicious-{suspicious.pk}"' in page and 'data-suspicious="suspicious"' in page
    assert "on <a href=\"/security/\">SECURITY</a>" in page and 'value="confirm"' not in page  # alice cannot decide


def test_the_security_role_confirms_and_the_point_stays_marked(client, alice, sue, item, suspicious):
    client.force_login(sue)
    page = client.get(URL).content.decode()
    assert f'id="point-{suspicious.pk}"' in page and 'value="confirm"' in page
    url = reverse("security-decide-point", args=[suspicious.pk])
    assert client.post(url, {"decision": "confirm", "reason": ""}).status_code == 400
    assert client.post(url, {"decision": "confirm", "reason": "ransomware on the host"}).status_code == 302
    assert PointAnomaly.objects.get(pk=suspicious.pk).state == PointAnomaly.State.CONFIRMED
    client.force_login(alice)
    listing = client.get(reverse("vault-protected", args=[item.vault_id])).content.decode()
    assert "mark-suspicious" not in listing  # decided
    page = client.get(reverse("vault-protected-item", args=[item.vault_id, item.pk])).content.decode()
    assert 'data-suspicious="confirmed"' in page and f'id="suspicious-{suspicious.pk}"' not in page


def test_a_member_who_holds_the_role_decides_on_the_item_page(client, alpha, alice, item, suspicious,
                                                             django_user_model):
    from backup.guard.models import ResourceGuard
    from backup.tenancy.models import Membership

    ResourceGuard.objects.filter(subscription=alpha).delete()
    root = django_user_model.objects.create_superuser("root")
    Membership.objects.create(subscription=alpha, user=root)
    client.force_login(root)
    item_url = reverse("vault-protected-item", args=[item.vault_id, item.pk])
    assert 'value="dismiss"' in client.get(item_url).content.decode()
    done = client.post(reverse("security-decide-point", args=[suspicious.pk]),
                       {"decision": "dismiss", "reason": "planned re-encryption", "next": item_url})
    assert done.status_code == 302 and done["Location"] == item_url
    assert PointAnomaly.objects.get(pk=suspicious.pk).state == PointAnomaly.State.DISMISSED
    assert "data-suspicious" not in client.get(item_url).content.decode()
