"""Fuzzing from our own OpenAPI document with schemathesis against the local stack: every operation,
with a user and an admin token, valid and invalid inputs. No response may be a 5xx and every
response must match the document (status code, content type, headers, body schema).

`make test` runs a short pass (>= 1,000 requests); `make fuzz` sets FUZZ_EXAMPLES for a long one."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import token

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "16"))  # per operation, token and mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
USER = token("fuzz-user")
ADMIN = token("fuzz-admin", admin=True)


def test_fuzz_every_operation_from_the_openapi_document(stack):
    # Given some real data for the generated requests to hit besides the misses
    stack.request("POST", "/proxy/failover/config", {"proxyId": "fuzz"}, USER)
    for name in ("a", "b"):
        stack.request(
            "POST", "/proxy/instances", {"proxyId": "fuzz", "instanceData": {"instanceName": name}}, USER
        )

    schema = schemathesis.openapi.from_url(stack.url + "/openapi.json")
    sent = {"total": 0}
    operations = [result.ok() for result in schema.get_all_operations()]
    # schemathesis leaves out the operation that serves the document it was loaded from
    _, document, _ = stack.request("GET", "/openapi.json")
    documented = sum(len(item) for item in document["paths"].values())
    assert len(operations) == documented - 1 >= 20

    def fuzz(operation, bearer, mode):
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case):
            case.call_and_validate(
                base_url=stack.url, headers={"Authorization": f"Bearer {bearer}"}, checks=CHECKS, timeout=15
            )
            sent["total"] += 1

        exercise()

    def has_inputs(operation) -> bool:
        """Something a negative case could make invalid: a parameter, a body, or the token."""
        declared = document["paths"][operation.path][operation.method.lower()]
        return bool(declared.get("parameters") or declared.get("requestBody") or declared.get("security"))

    for operation in operations:
        for bearer in (USER, ADMIN):
            modes = [GenerationMode.POSITIVE]
            if has_inputs(operation):  # the console's page takes none: every request to it is valid
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                fuzz(operation, bearer, mode)

    print(f"fuzz: {sent['total']} requests over {len(operations)} operations x 2 tokens x 2 modes")
    # the short run in `make test` sends at least the 1,000 requests the suite promises
    assert sent["total"] >= (1000 if EXAMPLES >= 16 else len(operations) * 4 * EXAMPLES // 2), sent
