"""Fuzzing every page's form and query string with hypothesis: whatever a signed-in user sends, no page answers 500.

The routes come from the URL resolver (as in the tenancy matrix), filled with the ids of the user's own objects,
so new pages (the Restore wizard included) are fuzzed without touching this file. The API is fuzzed by
schemathesis (tests/api).
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.test_tenancy_matrix import PUBLIC, _fill, _routes
from tests.security.world import build_world

FIELDS = [
    "name", "region", "subscription", "redundancy", "frequency", "days_of_week", "time_of_day", "timezone",
    "daily_retention_days", "weekly_retention_weeks", "monthly_retention_months", "yearly_retention_years",
    "vm", "item", "policy", "step", "mode", "new-name", "new-frequency", "new-time_of_day", "new-timezone",
    "new-daily_retention_days", "vm_name", "cloud_service", "create_cloud_service", "storage_account",
    "virtual_network", "subnet", "disks_only", "disk_keys", "point", "date", "day", "month", "year", "keep_data",
    "delete_data", "choice", "status", "operation", "range", "start", "end", "page", "target", "modal", "confirm",
]
NASTY = ["", "0", "-1", "1", "2", "99999999999999999999999", "1e309", "NaN", "2015-13-45", "25:99", "../../pwned",
         "a/b", "\x00", "x" * 20000, "名字😀", "<script>alert(1)</script>", "' OR 1=1 --", "Mon", "true", "on",
         "Europe/Nowhere", "daily", "weekly", "existing", "new", "3", "2026-01", "2015-02-29"]
# Deleting the world's objects first would leave the other routes nothing to chew on.
LAST = ("delete", "cancel", "dismiss", "stop", "unregister")

values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), st.integers(-10, 10**12).map(str))
form_data = st.dictionaries(st.sampled_from(FIELDS) | st.text(min_size=1, max_size=10), values | st.lists(values,
                            max_size=3), max_size=8)


@pytest.mark.django_db
def test_no_page_answers_500_to_random_forms_and_query_strings(client, alpha, alice):
    world = build_world(alpha, alice)
    client.force_login(alice)
    routes = sorted(((r, n) for r, n in _routes() if n not in PUBLIC and n != "logout"),
                    key=lambda rn: any(word in (rn[1] or "") for word in LAST))
    failures = []
    for route, _name in routes:
        _fuzz(client, _fill(route, world.ids()), failures)
    assert failures == [], "\n".join(failures[:20])


def _fuzz(client, url: str, failures: list) -> None:
    @settings(max_examples=6, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=form_data, htmx=st.booleans())
    def fuzz(data, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        for method in ("get", "post"):
            try:
                response = getattr(client, method)(url, data, **headers)
            except Exception as exc:  # the test client re-raises a view's exception: that is a 500
                failures.append(f"{method.upper()} {url} {data!r}: {type(exc).__name__}: {exc}")
                return
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} {data!r} -> {response.status_code}")

    fuzz()
