"""Lists that scale: search, natural sort, paging and select-all on every list page, bulk unregister."""

import re

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from backup.jobs.models import Job, JobStatus, Operation
from backup.lists import Column, ListQuery, natural_key
from backup.vaults.models import Vault
from backup.vms.models import CloudService, RegisteredItem, VirtualMachine
from tests.vms.helpers import make_vault

CAPS = [f"cap-{n}" for n in (10, 2, 7, 1, 9, 3, 8, 5, 4, 6)]


def _names(page_html: bytes, pattern: str) -> list[str]:
    return re.findall(pattern, page_html.decode())


def test_natural_key_puts_numbers_in_order_and_ignores_case():
    assert sorted(CAPS, key=natural_key) == [f"cap-{n}" for n in range(1, 11)]
    assert sorted(["b", "A", "a10", "a9", "", None], key=natural_key) == ["A", "a9", "a10", "b", "", None]
    assert sorted([3, 1, None, 2], key=natural_key) == [1, 2, 3, None]


@pytest.fixture
def caps(alpha):
    service = CloudService.objects.create(subscription=alpha, name="svc", region="West US")
    return [VirtualMachine.objects.create(subscription=alpha, cloud_service=service, name=name) for name in CAPS]


def test_ten_machines_sort_naturally_both_ways(caps):
    def names(params):
        query = ListQuery(QueryDict(params), [Column("name", "NAME", "name")], ["name"])
        return [vm.name for vm in query.page(VirtualMachine.objects.all()).object_list]

    assert names("") == [f"cap-{n}" for n in range(1, 11)]
    assert names("sort=-name") == [f"cap-{n}" for n in range(10, 0, -1)]


def test_search_is_a_case_insensitive_substring_and_paging_keeps_it(caps):
    query = ListQuery(QueryDict("q=CAP-1&sort=-name"), [Column("name", "NAME", "name")], ["name"], page_size=1)
    page = query.page(VirtualMachine.objects.all())
    assert page.paginator.count == 2 and [vm.name for vm in page.object_list] == ["cap-10"]
    assert query.url(page=2) == "?q=CAP-1&sort=-name&page=2"
    assert ListQuery(QueryDict("page=99"), [Column("name", "NAME", "name")], ["name"], page_size=3) \
        .page(VirtualMachine.objects.all()).number == 4  # past the end: the last page


def test_headers_say_their_sort_and_link_to_the_other_direction():
    columns = [Column("name", "NAME", "name"), Column("status", "STATUS", "status")]
    headers = ListQuery(QueryDict("q=x&page=3"), columns, ["name"]).headers()
    assert [(h.aria_sort, h.url) for h in headers] == [("ascending", "?q=x&sort=-name"), ("none", "?q=x&sort=status")]
    headers = ListQuery(QueryDict("sort=-status"), columns, ["name"]).headers()
    assert [h.aria_sort for h in headers] == ["none", "descending"]
    assert ListQuery(QueryDict("sort=bogus"), columns, ["name"]).sort == (columns[0], False)


def test_vm_list_searches_sorts_and_pages(alice_client, caps):
    page = alice_client.get(reverse("vm-list"), {"q": "Cap-", "sort": "name"})
    assert _names(page.content, r'>(cap-\d+)</a>') == [f"cap-{n}" for n in range(1, 11)]
    assert b'aria-sort="ascending" data-sort="name"' in page.content
    page = alice_client.get(reverse("vm-list"), {"q": "cap-1"})
    assert _names(page.content, r'>(cap-\d+)</a>') == ["cap-1", "cap-10"]
    assert b'value="cap-1"' in page.content  # the search box keeps what was typed
    assert b"No virtual machines match" in alice_client.get(reverse("vm-list"), {"q": "zzz"}).content


def test_vm_list_pages_past_25_and_keeps_the_search(alice_client, alpha):
    service = CloudService.objects.create(subscription=alpha, name="svc", region="West US")
    VirtualMachine.objects.bulk_create(
        VirtualMachine(subscription=alpha, cloud_service=service, name=f"web-{n}") for n in range(1, 31))
    first = alice_client.get(reverse("vm-list"), {"q": "WEB"})
    assert len(_names(first.content, r'>(web-\d+)</a>')) == 25 and b"Page 1 of 2" in first.content
    assert b'href="?q=WEB&amp;page=2"' in first.content
    second = alice_client.get(reverse("vm-list"), {"q": "WEB", "page": 2})
    assert _names(second.content, r'>(web-\d+)</a>') == [f"web-{n}" for n in range(26, 31)]


def test_cloud_services_storage_and_vaults_search_and_sort(alice_client, alpha):
    for n in (10, 2, 1):
        CloudService.objects.create(subscription=alpha, name=f"svc-{n}", region="West US")
        make_vault(alpha, name=f"vault-x{n}")
    page = alice_client.get(reverse("cloud-service-list"), {"q": "SVC"})
    assert _names(page.content, r'<td>(svc-\d+)') == ["svc-1", "svc-2", "svc-10"]
    page = alice_client.get(reverse("vault-list"), {"q": "X", "sort": "-name"})
    assert _names(page.content, r'data-vault="(vault-x\d+)"') == ["vault-x10", "vault-x2", "vault-x1"]
    assert alice_client.get(reverse("storage-list"), {"q": "nothing", "sort": "disks"}).status_code == 200


def test_lists_are_private_to_the_subscription(charlie_client, caps):
    assert b"cap-1" not in charlie_client.get(reverse("vm-list"), {"q": "cap"}).content


def _registered(vault, names):
    return [RegisteredItem.objects.create(vault=vault, vm_name=name, cloud_service_name="svc",
                                          status=RegisteredItem.Status.REGISTERED, registered_at=timezone.now())
            for name in names]


def test_registered_items_search_sort_and_select_all(alice_client, alpha):
    vault = make_vault(alpha)
    _registered(vault, CAPS)
    page = alice_client.get(reverse("vault-registered", args=[vault.pk]), {"q": "CAP"})
    assert _names(page.content, r'data-vm="(cap-\d+)"') == [f"cap-{n}" for n in range(1, 11)]
    assert b'data-select-all="registered_item"' in page.content
    assert page.content.count(b'name="registered_item"') == 10


def test_unregister_several_items_with_one_confirmation_and_one_job_each(alice_client, alpha):
    vault = make_vault(alpha)
    items = _registered(vault, ["web-2", "web-10", "db-1"])
    url = reverse("vault-unregister", args=[vault.pk])
    ticked = [items[0].pk, items[1].pk]
    dialog = alice_client.get(url, {"registered_item": ticked})
    assert dialog.content.count(b" checked") == 2  # the rows ticked on the tab come ticked
    confirm = alice_client.post(url, {"registered_item": ticked})
    assert b"Unregister these 2 items" in confirm.content and b"web-10" in confirm.content
    assert not Job.objects.exists()
    alice_client.post(url, {"registered_item": ticked, "confirm": "yes"}, HTTP_HX_REQUEST="true")
    assert sorted(Job.objects.filter(operation=Operation.UNREGISTER).values_list("item_name", flat=True)) == \
        ["web-10", "web-2"]
    assert RegisteredItem.objects.get(pk=items[2].pk).status == RegisteredItem.Status.REGISTERED


def test_unregister_of_several_names_each_refused_item(alice_client, alpha):
    from tests.factories import protect
    from tests.vms.helpers import make_vm

    vault = make_vault(alpha)
    protected = protect(vault, make_vm(alpha, name="app-1", files=False))
    free = _registered(vault, ["web-1"])[0]
    response = alice_client.post(reverse("vault-unregister", args=[vault.pk]),
                                 {"registered_item": [protected.registered_item_id, free.pk], "confirm": "yes"})
    assert b"app-1:" in response.content and not Job.objects.exists()


def test_protected_items_type_search_sort_and_select_all(alice_client, alpha):
    from tests.factories import protect
    from tests.vms.helpers import make_vm

    vault = make_vault(alpha)
    for name in CAPS[:4]:
        protect(vault, make_vm(alpha, name=name, files=False))
    url = reverse("vault-protected", args=[vault.pk])
    page = alice_client.get(url, {"sort": "-name"})
    assert _names(page.content, r'data-vm="(cap-\d+)"') == ["cap-10", "cap-7", "cap-2", "cap-1"]
    assert b'data-select-all="item"' in page.content and b"Azure Virtual Machine" in page.content
    page = alice_client.get(url, {"type": "azure", "q": "CAP-1"})
    assert _names(page.content, r'data-vm="(cap-\d+)"') == ["cap-1", "cap-10"]
    page = alice_client.get(url, {"type": "kvm"})
    assert b"No protected items match these filters" in page.content
    assert alice_client.get(url, {"type": "bogus", "sort": "points"}).status_code == 200


def _job(vault: Vault, name: str) -> Job:
    return Job.objects.create(subscription=vault.subscription, vault_id=vault.pk, item_type="vm", item_name=name,
                              operation=Operation.BACKUP, status=JobStatus.COMPLETED, ended_at=timezone.now())


def test_jobs_item_filter_matches_any_part_in_any_case_and_sorts(alice_client, alpha):
    vault = make_vault(alpha)
    for name in ("Web01", "web02", "db01"):
        _job(vault, name)
    url = reverse("vault-jobs", args=[vault.pk])
    page = alice_client.get(url, {"item": "WEB", "sort": "item"})
    assert _names(page.content, r'hx-push-url="false">([^<]+)</a>') == ["Web01", "web02"]
    assert b'aria-sort="ascending" data-sort="item"' in page.content
    page = alice_client.get(url, {"sort": "-item"})
    assert _names(page.content, r'hx-push-url="false">([^<]+)</a>')[0] == "web02"
    assert b'aria-sort="descending" data-sort="start"' in alice_client.get(url).content


def test_jobs_sort_by_item_and_cloud_service_naturally_across_pages(alice_client, alpha):
    from datetime import timedelta

    vault = make_vault(alpha)
    now = timezone.now()
    for age, name in enumerate(CAPS * 3):  # three jobs of each machine, in no order
        Job.objects.create(
            subscription=alpha,
            vault_id=vault.pk,
            item_type="vm",
            item_name=name,
            item_parent=f"cs-{12 - len(name)}",
            operation=Operation.BACKUP,
            status=JobStatus.COMPLETED,
            started_at=now - timedelta(minutes=age),
        )
    url = reverse("vault-jobs", args=[vault.pk])
    rows = _names(alice_client.get(url, {"sort": "item"}).content, r'hx-push-url="false">([^<]+)</a>')
    assert rows == [f"cap-{n}" for n in range(1, 11) for _ in range(3)]
    rows = _names(alice_client.get(url, {"sort": "-item", "item": "CAP-1"}).content, r'hx-push-url="false">([^<]+)</a>')
    assert rows == ["cap-10"] * 3 + ["cap-1"] * 3

    def page(number, size, sort="item_name", descending=False):
        jobs = Job.objects.for_vault_page(vault.pk)
        got = Job.objects.page_of(jobs, number, size, (sort, descending))
        return [(job.item_name, job.started_at) for job in got.object_list], got.paginator.count

    everything, count = page(1, 100)
    assert count == 30 and [name for name, _ in everything] == [f"cap-{n}" for n in range(1, 11) for _ in range(3)]
    starts = [start for name, start in everything if name == "cap-4"]
    assert starts == sorted(starts, reverse=True)  # newest first within a name
    assert [page(n, 7)[0] for n in range(1, 6)] == [everything[i : i + 7] for i in range(0, 30, 7)]
    backwards, _ = page(2, 4, descending=True)
    assert [name for name, _ in backwards] == ["cap-9", "cap-9", "cap-8", "cap-8"]
    clouds, _ = page(1, 30, "item_parent")
    assert [name for name, _ in clouds][:3] == ["cap-10"] * 3  # cs-6 before cs-7, whatever the text order


def test_stop_protection_of_several_items_lists_them_once_and_starts_a_job_each(alice_client, alpha):
    from tests.factories import protect
    from tests.vms.helpers import make_vm

    vault = make_vault(alpha)
    items = [protect(vault, make_vm(alpha, name=name, files=False)) for name in ("app-1", "app-2")]
    url = reverse("vault-stop-protection", args=[vault.pk])
    dialog = alice_client.get(url, {"item": [item.pk for item in items]})
    assert b"<strong>app-1</strong>, <strong>app-2</strong>" in dialog.content
    alice_client.post(url, {"item": [item.pk for item in items]}, HTTP_HX_REQUEST="true")
    assert sorted(Job.objects.filter(operation=Operation.STOP_PROTECTION).values_list("item_name", flat=True)) == \
        ["app-1", "app-2"]


def test_the_polled_protected_table_keeps_search_sort_and_type(alice_client, alpha):
    from tests.factories import protect
    from tests.vms.helpers import make_vm

    vault = make_vault(alpha)
    for name in ("web-1", "web-2", "db-1"):
        protect(vault, make_vm(alpha, name=name, files=False))
    page = alice_client.get(reverse("vault-protected", args=[vault.pk]), {"q": "web", "sort": "-name", "type": "azure"},
                            HTTP_HX_REQUEST="true")
    assert _names(page.content, r'data-vm="([a-z]+-\d+)"') == ["web-2", "web-1"]
    for hidden in (b'name="q" value="web"', b'name="sort" value="-name"', b'name="type" value="azure"'):
        assert hidden in page.content  # the next poll asks for the same view


def test_jobs_sort_keeps_the_maintenance_filter_and_the_poller_keeps_both(alice_client, alpha):
    """The merge of lists and live jobs: sorting, the maintenance filter and the newer-jobs poll work together."""
    vault = make_vault(alpha)
    seen = _job(vault, "b-vm")
    Job.objects.create(subscription=vault.subscription, vault_id=vault.pk, item_type="vault", item_name="zz-prune",
                       operation=Operation.PRUNE, status=JobStatus.COMPLETED, ended_at=timezone.now())
    url = reverse("vault-jobs", args=[vault.pk])
    names = _names(alice_client.get(url, {"sort": "-item"}).content, r'hx-push-url="false">([^<]+)</a>')
    assert names == ["b-vm"]  # maintenance hidden under a sort too
    page = alice_client.get(url, {"sort": "-item", "maintenance": "on"}).content
    assert _names(page, r'hx-push-url="false">([^<]+)</a>') == ["zz-prune", "b-vm"]
    assert b'data-sort="cloud"' in page and b'id="job-new-poller"' not in page  # polled newest first only
    page = alice_client.get(url, {"sort": "-start", "item": "vm"}).content.decode()
    assert 'id="job-new-poller"' in page and "sort=-start" in page and f"newer_than={seen.pk}" in page
    newer = _job(vault, "a-vm")
    _job(vault, "other")
    fresh = alice_client.get(url, {"sort": "-start", "item": "vm", "newer_than": seen.pk},
                             HTTP_HX_REQUEST="true").content.decode()
    assert f'id="job-row-{newer.pk}"' in fresh and "other" not in fresh and "sort=-start" in fresh


def test_the_protected_table_shows_a_running_job_on_its_sorted_rows(alice_client, alpha):
    from tests.factories import protect
    from tests.vms.helpers import make_vm

    vault = make_vault(alpha)
    items = [protect(vault, make_vm(alpha, name=name, files=False)) for name in ("web-1", "web-2")]
    Job.objects.create(subscription=vault.subscription, vault_id=vault.pk, item_type="vm", item_id=items[0].vm_id,
                       item_name="web-1", operation=Operation.BACKUP, status=JobStatus.IN_PROGRESS)
    page = alice_client.get(reverse("vault-protected", args=[vault.pk]), {"sort": "-name"},
                            HTTP_HX_REQUEST="true")
    html = page.content.decode()
    assert page.status_code == 200 and 'hx-trigger="every 2s"' in html  # still polling while the backup runs
    assert _names(page.content, r'data-vm="([a-z]+-\d+)"') == ["web-2", "web-1"]
    assert html.count("row-job") == 1 and f'id="pick-{items[0].pk}" hx-preserve' in html
    assert 'data-select-all="item"' in html and 'name="sort" value="-name"' in html
