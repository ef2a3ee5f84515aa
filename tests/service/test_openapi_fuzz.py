"""schemathesis against the served OpenAPI document: no 5xx, every answer as documented.

Bounded: ``TIDINGS_SCHEMATHESIS_EXAMPLES`` examples per operation (default 15),
derandomized, no deadline, against a live server of its own (this module's
``live``). Checks: no 5xx, status codes, content types and bodies as documented.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

EXAMPLES = int(os.environ.get("TIDINGS_SCHEMATHESIS_EXAMPLES", "15"))
CREDENTIALS = {"X-CleverTap-Account-Id": "acme", "X-CleverTap-Passcode": "acme-passcode"}
# A body's schema cannot say which business events and campaigns a workspace holds,
# so a schema-valid body may rightly get the vendor's 400 ("Business Event Not Found").
EXCLUDED = [schemathesis.checks.positive_data_acceptance]
OPERATIONS = [
    ("POST", "/1/targets/trigger.json"),
    ("POST", "/1/send/externaltrigger.json"),
    ("POST", "/2/send/externaltrigger.json"),
    ("POST", "/1/targets/create.json"),
    ("POST", "/1/send/{channel}.json"),
    ("POST", "/1/upload"),
    ("GET", "/1/stats.json"),
    ("GET", "/1/activity.json"),
    ("GET", "/healthz"),
]


@pytest.fixture(scope="module")
def api_schema(live):
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


def test_the_document_lists_every_operation(api_schema):
    served = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert served == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_as_documented_and_never_5xx(api_schema, method, path):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case):
        case.call_and_validate(headers=CREDENTIALS, timeout=30, excluded_checks=EXCLUDED)

    check()
