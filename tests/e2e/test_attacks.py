"""The attack sets over real HTTP through the local stack's gateway, which verifies tokens and hands
claims to the handlers as API Gateway's authorizer does: forged tokens on every endpoint (0 accepted),
user B against user A's resources on every endpoint (0 leaks, 0 changes), forbidden probe targets."""

from __future__ import annotations

import json

from tests.helpers import token
from tests.integration.test_auth_tenancy import ENDPOINTS, FORGED

A = token("tenant-a")
B = token("tenant-b")
ADMIN = token("root", admin=True)


def test_forged_tokens_are_refused_on_every_endpoint(stack):
    accepted = []
    for forged, value in FORGED.items():
        for name, method, path, body in ENDPOINTS:
            status, payload, _ = stack.request(method, path, body, token=value or None)
            if status != 401 or payload["error"]["code"] != "PROXY_FAILOVER_020":
                accepted.append((forged, name, status))
    assert accepted == []


def test_user_b_gets_nothing_of_user_a_over_http(stack):
    status, _, _ = stack.request("POST", "/proxy/failover/config", {"proxyId": "a-only"}, A)
    assert status == 201
    ids = []
    for name in ("one", "two"):
        status, body, _ = stack.request(
            "POST", "/proxy/instances", {"proxyId": "a-only", "instanceData": {"instanceName": name}}, A
        )
        ids.append(body["data"]["id"])
    stack.request("PUT", f"/proxy/instances/{ids[1]}/health", {"healthStatus": "healthy"}, A)
    status, event, _ = stack.request(
        "POST",
        "/proxy/failover/execute",
        {"proxyId": "a-only", "sourceInstanceId": ids[0], "targetInstanceId": ids[1], "reason": "x"},
        ADMIN,
    )
    assert status == 200

    def snapshot():
        return [
            stack.request("GET", p, token=A)[1]
            for p in (
                "/proxy/a-only/instances",
                "/proxy/a-only/redundancy",
                "/proxy/a-only/failover/events",
                "/proxy/failover/config/a-only",
            )
        ]

    before = snapshot()
    attempts = [
        (
            "POST",
            "/proxy/failover/config",
            {"proxyId": "a-only", "config": {"enableAutoFailover": False}},
            404,
        ),
        ("GET", "/proxy/failover/config/a-only", None, 404),
        (
            "POST",
            "/proxy/instances",
            {"proxyId": "a-only", "instanceData": {"instanceName": "intruder"}},
            404,
        ),
        ("GET", "/proxy/a-only/instances", None, 404),
        ("PUT", f"/proxy/instances/{ids[1]}/health", {"healthStatus": "unhealthy"}, 404),
        ("POST", "/proxy/failover/evaluate", {"proxyId": "a-only"}, 404),
        (
            "POST",
            "/proxy/failover/execute",
            {
                "proxyId": "a-only",
                "sourceInstanceId": ids[1],
                "targetInstanceId": ids[0],
                "reason": "x",
                "force": True,
            },
            403,
        ),
        ("PUT", f"/proxy/failover/events/{event['data']['id']}/complete", {"status": "failed"}, 403),
        ("GET", "/proxy/a-only/redundancy", None, 404),
        ("PUT", "/proxy/a-only/redundancy", {"activeInstanceId": ids[0], "force": True}, 403),
        ("GET", "/proxy/a-only/failover/events", None, 404),
    ]
    for method, path, body, expected in attempts:
        status, payload, _ = stack.request(method, path, body, B)
        assert status == expected, (method, path, payload)
        sent = path + json.dumps(body)
        leaked = [
            i for i in ids if i in json.dumps(payload) and i not in sent
        ]  # echoing B's own input is fine
        assert leaked == [], (method, path, payload)
        assert "one" not in json.dumps(payload.get("data", "")), payload
    assert snapshot() == before


def test_forbidden_probe_targets_are_refused_at_registration(stack):
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "file:///etc/passwd",
        "http://10.0.0.1/",
    ):
        status, payload, _ = stack.request(
            "POST",
            "/proxy/instances",
            {"proxyId": "ssrf", "instanceData": {"instanceName": "x", "healthCheckUrl": url}},
            A,
        )
        assert status == 400, (url, payload)
