"""Property-based tests of the whole JSON API from its OpenAPI schema: no input may cause a server error.

schemathesis generates requests for every operation (valid and invalid bodies, paths and queries) and
sends them to the Django WSGI app in this process, signed in with a seeded member's bearer token; the
test's transaction is rolled back, so nothing generated is ever queued for a worker.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from portal.wsgi import application
from tests.factories import make_vault

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """As Django's test client does: a request must not close the connection holding the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(alice, alpha, api_headers):
    make_vault(alpha, name="Payroll")
    return api_headers(alice)["Authorization"]


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_input_causes_a_server_error(case, token):
    case.call_and_validate(headers={"Authorization": token}, checks=[not_a_server_error])
