"""On PostgreSQL the Jobs page's item search (any part of the name, any case) is answered from a trigram index."""

import pytest
from django.db import connection
from django.urls import reverse

from backup.jobs.models import Job
from tests.factories import make_vault

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL index (pg_trgm)"),
]


def test_the_item_search_is_planned_on_the_trigram_index(alice_client, alpha):
    vault = make_vault(alpha, name="Payroll")
    for name in ("web01", "WEB02", "db01"):
        Job.objects.create(subscription=alpha, vault_id=vault.pk, item_name=name, operation="backup")
    page = alice_client.get(
        reverse("vault-jobs", args=[vault.pk]), {"item": "eb0", "range": "custom", "start": "2000-01-01"}
    )
    assert page.status_code == 200
    shown = {job.item_name for job in page.context["page"].object_list}
    assert shown == {"web01", "WEB02"}

    search = Job.objects.filter(item_name__icontains="eb0").values("id")  # the lookup the page's filter uses
    sql, params = search.query.sql_with_params()
    with connection.cursor() as cursor:
        # Without the other ways of reading (a tiny table would rather be read whole), the plan must find the index
        # of the very expression Django's icontains writes.
        for way in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{way} = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "job_item_name_trgm" in plan, plan
