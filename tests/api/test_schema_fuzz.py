"""Every API operation, driven from its own OpenAPI schema by schemathesis.

Thousands of generated requests, valid and invalid, against the real app over real
MongoDB and Redis: no answer is a 500, every answer's status, content type, headers and
body are the ones the schema documents, invalid requests are refused, and what needs a
token refuses a request without one. Derandomized, so CI runs the same cases every time;
`make fuzz` runs a longer random search against a running `make up`.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.tokens import PlatformRefreshToken
from myproject.wsgi import application

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


# Served by the app itself, as a client would fetch it. (Loaded at collection:
# schemathesis' lazy `from_fixture` does not run on pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


@pytest.fixture
def staff_auth(history, model_version, make_user, monkeypatch):
    # The fuzzer sends thousands of requests from one client: lift the rate limits
    # (their 429s are tested in test_throttling) so its cases reach the views.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"submit": None, "auth": None})
    staff = make_user("fuzz-staff", is_staff=True)
    return {"Authorization": f"Bearer {PlatformRefreshToken.for_user(staff).access_token}"}


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(case, staff_auth):
    case.call_and_validate(headers=staff_auth, checks=CHECKS)
