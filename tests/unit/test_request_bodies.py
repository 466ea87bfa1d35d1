"""Request bodies are declared with pydantic and validated at run time by pydantic-core from a
compiled schema: the compiled file must be fresh, must judge every input exactly as pydantic does, and
handlers must never import pydantic itself (that is what keeps their cold start small)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any, get_args

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from proxy_failover.api.bodies import (
    COMPILED,
    CROSS_FIELD_RULES,
    idempotency_key,
    metrics_sample,
    provided,
    validate_body,
)
from proxy_failover.api.errors import validation_details
from proxy_failover.errors import InvalidInput
from pydantic import TypeAdapter, ValidationError

from contract import request_bodies
from tests.helpers import ROOT, sample_event

BODY_HANDLERS = {
    "create_config": "ConfigRequest",
    "register_instance": "RegisterRequest",
    "report_health": "HealthReport",
    "evaluate_failover": "EvaluateRequest",
    "execute_failover": "ExecuteRequest",
    "complete_event": "CompleteRequest",
    "update_redundancy": "RedundancyUpdate",
    "update_instance": "InstancePatch",
    "start_maintenance": "MaintenanceRequest",
    "start_drill": "DrillRequest",
}


def test_the_compiled_schemas_are_fresh():
    assert COMPILED.read_text(encoding="utf-8") == request_bodies.compile_schemas(), "run `make openapi`"


def test_wire_names_of_enums_match_the_domain():
    for names, enum in request_bodies.ENUM_NAMES.items():
        assert set(get_args(names)) == {member.value for member in enum}


def _outcome(body: str, raw: bytes) -> tuple[str, Any]:
    """What pydantic itself decides from the declared type, then the body's rule across fields (which
    a schema cannot state, so both sides run the same Python after the schema)."""
    try:
        value = TypeAdapter(request_bodies.BODIES[body]).validate_json(raw)
    except ValidationError as exc:
        return "invalid", validation_details(exc.errors())
    rule = CROSS_FIELD_RULES.get(body)
    try:
        if rule is not None:
            rule(value)
    except InvalidInput as exc:
        return "invalid", exc.details
    return "ok", value


def _compiled_outcome(body: str, raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", validate_body(body, raw)
    except InvalidInput as exc:
        return "invalid", exc.details


# A valid document of every field per body; the generator below keeps, drops or spoils each field.
FULL = {
    "ConfigRequest": {
        "proxyId": "edge-eu-1",
        "config": {
            "failoverStrategy": "round_robin",
            "healthCheckIntervalSeconds": 30,
            "healthCheckTimeoutSeconds": 5,
            "unhealthyThreshold": 3,
            "healthyThreshold": 2,
            "maxRecoveryAttempts": 3,
            "recoveryBackoffSeconds": 5,
            "enableAutoFailover": True,
            "enableAutoRecovery": False,
            "enableLoadBalancing": False,
            "loadBalancingAlgorithm": "weighted",
            "failbackHoldDownSeconds": 0,
            "flapThreshold": 4,
            "flapWindowSeconds": 300,
            "reportTtlSeconds": 120,
        },
    },
    "RegisterRequest": {
        "proxyId": "edge-eu-1",
        "instanceData": {
            "instanceName": " edge-eu-1a ",
            "instanceType": "standard",
            "priority": 0,
            "weight": 50,
            "healthCheckUrl": "http://10.0.0.1/health",
            "endpoint": "10.0.0.1:8443",
            "probe": {"expectedStatus": "200-299,304", "bodyContains": "ok", "tlsVerify": False},
        },
    },
    "HealthReport": {
        "healthStatus": "unhealthy",
        "metrics": {
            "cpuPercent": 12,
            "memoryPercent": 40.5,
            "requestRate": 1000,
            "averageLatencyMs": 3.2,
            "errorRate": 0.01,
            "connectionCount": 12,
            "throughputMbps": 800,
        },
    },
    "EvaluateRequest": {"proxyId": "edge-eu-1"},
    "ExecuteRequest": {
        "proxyId": "edge-eu-1",
        "sourceInstanceId": str(uuid.uuid4()),
        "targetInstanceId": str(uuid.uuid4()),
        "reason": " maintenance ",
        "force": True,
        "dryRun": True,
    },
    "DrillRequest": {
        "proxyId": "edge-eu-1",
        "targetInstanceId": str(uuid.uuid4()),
        "durationSeconds": 300,
        "reason": " quarterly drill ",
    },
    "SafetyUpdate": {"autoFailover": "held", "reason": "the checkers' network is down: hold switches"},
    "InstancePatch": {
        "instanceName": "edge-eu-1b",
        "instanceType": "large",
        "priority": 5,
        "weight": 20,
        "healthCheckUrl": None,
        "endpoint": "https://edge.example.com:8443",
        "probe": {"expectedStatus": "200", "bodyContains": "ready", "tlsVerify": True},
    },
    "MaintenanceRequest": {"durationSeconds": 3600, "reason": " kernel patch ", "force": False},
    "CompleteRequest": {"status": "failed", "errorMessage": "timeout", "durationMs": 1200},
    "RedundancyUpdate": {
        "activeInstanceId": str(uuid.uuid4()),
        "lastFailoverReason": "drill",
        "force": False,
        "totalInstances": 3,
        "healthyInstances": 2,
        "unhealthyInstances": 1,
        "backupInstanceIds": [str(uuid.uuid4())],
        "redundancyLevel": "dual",
        "isDegraded": False,
        "lastFailoverAt": "2026-11-27T12:00:00Z",
    },
}

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=3_000_000_000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(
        ["", "  x  ", "edge-eu-1", "no spaces allowed", "priority", "healthy", "failed", "multi"]
    ),
    st.builds(lambda: str(uuid.uuid4())),
    st.just("2026-11-27T12:00:00Z"),
    st.lists(st.builds(lambda: str(uuid.uuid4())), max_size=2),
)


@st.composite
def _spoiled(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        fate = draw(st.sampled_from(["keep", "keep", "keep", "keep", "drop", "spoil"]))
        if fate == "keep":
            out[key] = draw(_spoiled(value)) if isinstance(value, dict) else value
        elif fate == "spoil":
            out[key] = draw(VALUES)
    if draw(st.integers(0, 9)) == 0:
        out["unknownField"] = draw(VALUES)
    return out


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, bytes]:
    body = draw(st.sampled_from(sorted(FULL)))
    return body, json.dumps(draw(_spoiled(FULL[body]))).encode()


def test_every_body_has_a_full_example():
    assert set(FULL) == set(request_bodies.BODIES)
    for body, document in FULL.items():
        assert _outcome(body, json.dumps(document).encode())[0] == "ok", body


@settings(max_examples=400, deadline=None)
@given(payloads())
@example(("InstancePatch", b"{}"))  # found by this test: a patch of nothing is refused by its rule
@example(
    (
        "ConfigRequest",
        b'{"proxyId": "p", "config": {"healthCheckTimeoutSeconds": 50, "healthCheckIntervalSeconds": 5}}',
    )
)
def test_the_compiled_validators_judge_like_pydantic(case):
    body, raw = case
    expected, compiled = _outcome(body, raw), _compiled_outcome(body, raw)
    assert compiled == expected, (raw, expected, compiled)


@pytest.mark.parametrize(
    ("interval", "timeout", "valid"),
    [
        (10, 5, True),
        (5, 5, False),
        (5, 9, False),
        (1, 1, True),  # a 1 s interval may have a 1 s timeout: the probe stops at 90% of the interval
        (None, 50, True),  # against the stored interval: the database's check decides
    ],
)
def test_the_timeout_must_be_below_the_interval(interval, timeout, valid):
    config = {"healthCheckTimeoutSeconds": timeout}
    if interval is not None:
        config["healthCheckIntervalSeconds"] = interval
    raw = json.dumps({"proxyId": "p", "config": config}).encode()
    if valid:
        assert validate_body("ConfigRequest", raw)["config"]["health_check_timeout_seconds"] == timeout
    else:
        with pytest.raises(InvalidInput) as raised:
            validate_body("ConfigRequest", raw)
        assert raised.value.details[0]["field"] == "config.healthCheckTimeoutSeconds"


def test_defaults_are_filled_in_and_nulls_keep_stored_values():
    registered = validate_body(
        "RegisterRequest", b'{"proxyId": "p", "instanceData": {"instanceName": " a "}}'
    )
    assert registered["instance_data"] == {
        "instance_name": "a",
        "instance_type": "standard",
        "priority": 100,
        "weight": 100,
        "health_check_url": None,
        "endpoint": None,
        "probe": None,
    }
    config = validate_body(
        "ConfigRequest", b'{"proxyId": "p", "config": {"flapThreshold": null, "healthyThreshold": 4}}'
    )
    assert provided(config["config"]) == {"healthy_threshold": 4}


def test_a_null_report_ttl_turns_it_off_rather_than_keeping_it():
    config = validate_body("ConfigRequest", b'{"proxyId": "p", "config": {"reportTtlSeconds": null}}')
    assert provided(config["config"]) == {"report_ttl_seconds": None}


def test_probe_options_get_their_defaults():
    registered = validate_body(
        "RegisterRequest", b'{"proxyId": "p", "instanceData": {"instanceName": "a", "probe": {}}}'
    )
    assert registered["instance_data"]["probe"] == {
        "expected_status": "200-399",
        "body_contains": None,
        "tls_verify": True,
    }


@pytest.mark.parametrize(
    ("ranges", "valid"),
    [
        ("200", True),
        ("200-299,304", True),
        ("299-200", False),
        ("20", False),
        ("600", False),
        ("200,", False),
    ],
)
def test_expected_status_ranges_are_checked(ranges, valid):
    raw = json.dumps({"probe": {"expectedStatus": ranges}}).encode()
    if valid:
        assert validate_body("InstancePatch", raw)["probe"]["expected_status"] == ranges
    else:
        with pytest.raises(InvalidInput) as raised:
            validate_body("InstancePatch", raw)
        assert raised.value.details[0]["field"].startswith("probe.expectedStatus")


def test_an_empty_patch_is_refused():
    with pytest.raises(InvalidInput) as raised:
        validate_body("InstancePatch", b"{}")
    assert raised.value.details[0]["field"] == "body"


@pytest.mark.parametrize(
    ("header", "valid"), [(None, True), ("abc-123", True), ("", False), ("x" * 129, False), ("a b", False)]
)
def test_idempotency_keys_are_checked(header, valid):
    if valid:
        assert idempotency_key(header) == header
    else:
        with pytest.raises(InvalidInput):
            idempotency_key(header)


def test_reported_metrics_become_the_domains_sample():
    from proxy_failover.domain.models import MetricsSample

    report = validate_body(
        "HealthReport", b'{"healthStatus": "healthy", "metrics": {"cpuPercent": 12, "connectionCount": 3}}'
    )
    assert metrics_sample(report["metrics"]) == MetricsSample(cpu_percent=12.0, connection_count=3)
    assert metrics_sample({}) is None and metrics_sample(None) is None


PROBE = """
import importlib.util, json, sys
name, body = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("app", f"functions/{name}/app.py")
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
from proxy_failover.api.bodies import validate_body
event = json.load(open(f"events/{name}.json"))
validate_body(body, event["body"].encode())
heavy = ("pydantic", "pydantic_core", "pydantic_core.core_schema", "typing_extensions")
print(json.dumps(sorted(m for m in sys.modules if m in heavy or m.startswith("pydantic."))))
"""


@pytest.mark.parametrize(("name", "body"), sorted(BODY_HANDLERS.items()))
def test_body_handlers_validate_without_importing_pydantic(name, body):
    """Neither pydantic nor pydantic-core's package (only its compiled validator is loaded)."""
    assert sample_event(name)["body"], "the sample event carries a body"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, name, body],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == []


def test_a_layer_with_another_pydantic_core_refuses_to_guess(monkeypatch):
    from proxy_failover.api import bodies

    # a file another pydantic-core wrote: its schemas are not to be trusted (this one accepts anything)
    compiled = dict(bodies._schemas(), pydanticCoreVersion="0.0.0", RegisterRequest={"type": "any"})
    monkeypatch.setattr(bodies, "_schemas", lambda: compiled)
    bodies._validator.cache_clear()
    try:
        raw = b'{"proxyId": "p", "instanceData": {"instanceName": " a ", "priority": -1}}'
        with pytest.raises(RuntimeError, match="rebuild the layer"):
            validate_body("RegisterRequest", raw)
    finally:
        bodies._validator.cache_clear()


def test_the_layer_pins_the_pydantic_core_the_schemas_were_compiled_for():
    from proxy_failover.api import bodies

    requirements = (ROOT / "shared" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pinned = [line.split("#")[0].strip() for line in requirements if line.startswith("pydantic")]
    assert pinned == [f"pydantic-core=={bodies._schemas()[bodies.COMPILED_WITH]}"], pinned
