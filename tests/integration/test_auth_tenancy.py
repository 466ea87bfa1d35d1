"""Authentication (the token attack set on every endpoint) and tenant isolation (user B against each
of user A's resources on every endpoint)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from proxy_failover.settings import reset_settings

from tests.helpers import SECRET, http_event, invoke, token

A = token("user-a")
B = token("user-b")
ADMIN = token("ops", admin=True)
SOME = str(uuid.uuid4())

ENDPOINTS = [
    ("create_config", "POST", "/proxy/failover/config", {"proxyId": "p"}),
    ("get_config", "GET", "/proxy/failover/config/p", None),
    (
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "p", "instanceData": {"instanceName": "x"}},
    ),
    ("list_instances", "GET", "/proxy/p/instances", None),
    ("report_health", "PUT", f"/proxy/instances/{SOME}/health", {"healthStatus": "healthy"}),
    ("evaluate_failover", "POST", "/proxy/failover/evaluate", {"proxyId": "p"}),
    (
        "execute_failover",
        "POST",
        "/proxy/failover/execute",
        {"proxyId": "p", "sourceInstanceId": SOME, "targetInstanceId": SOME, "reason": "x"},
    ),
    ("complete_event", "PUT", f"/proxy/failover/events/{SOME}/complete", {"status": "completed"}),
    ("get_redundancy", "GET", "/proxy/p/redundancy", None),
    ("update_redundancy", "PUT", "/proxy/p/redundancy", {}),
    ("list_events", "GET", "/proxy/p/failover/events", None),
]


def _unsigned(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


NOW = int(time.time())
FORGED = {
    "missing": None,
    "empty bearer": "",
    "not a jwt": "not-a-token",
    "bad signature": token("user-a", secret="another-secret-of-at-least-32-bytes!!"),
    "expired": token("user-a", exp=NOW - 3600),
    "alg none": _unsigned({"sub": "user-a", "exp": NOW + 600, "roles": ["admin"]}),
    "wrong algorithm": jwt.encode({"sub": "user-a", "exp": NOW + 600}, SECRET, algorithm="HS512"),
    "no exp": jwt.encode({"sub": "user-a"}, SECRET, algorithm="HS256"),
    "no sub": jwt.encode({"exp": NOW + 600}, SECRET, algorithm="HS256"),
    "empty sub": jwt.encode({"sub": "", "exp": NOW + 600}, SECRET, algorithm="HS256"),
    "future nbf": jwt.encode(
        {"sub": "user-a", "exp": NOW + 600, "nbf": NOW + 600}, SECRET, algorithm="HS256"
    ),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
@pytest.mark.parametrize("forged", list(FORGED), ids=list(FORGED))
def test_forged_tokens_are_401_everywhere(db, endpoint, forged):
    name, method, path, body = endpoint
    event = http_event(method, path, body=body, token_value=None)
    value = FORGED[forged]
    if value is not None:
        event["headers"]["authorization"] = f"Bearer {value}" if forged != "empty bearer" else "Bearer "
    code, payload, _ = invoke(name, event)
    assert code == 401, payload
    assert payload["error"]["code"] == "PROXY_FAILOVER_020"


@pytest.mark.parametrize("scheme", ["Basic dXNlcjpwdw==", "Token abc", "bearer", "Bearer a b"])
def test_malformed_authorization_headers_are_401(db, scheme):
    event = http_event("GET", "/proxy/p/instances", headers={"authorization": scheme})
    code, _, _ = invoke("list_instances", event)
    assert code == 401


def test_issuer_and_audience_are_checked_when_configured(db, monkeypatch):
    monkeypatch.setenv("JWT_ISSUER", "https://issuer.example")
    monkeypatch.setenv("JWT_AUDIENCE", "proxy-api")
    reset_settings()
    good = token("user-a", iss="https://issuer.example", aud="proxy-api")
    for bad in (
        token("user-a", iss="https://evil.example", aud="proxy-api"),
        token("user-a", iss="https://issuer.example", aud="other-api"),
        token("user-a"),
    ):
        code, _, _ = invoke("list_instances", http_event("GET", "/proxy/p/instances", token_value=bad))
        assert code == 401
    code, _, _ = invoke("list_instances", http_event("GET", "/proxy/p/instances", token_value=good))
    assert code == 404  # authenticated; the proxy simply does not exist


def test_authorizer_claims_are_used_as_api_gateway_sends_them(db):
    event = http_event("POST", "/proxy/failover/execute", body=ENDPOINTS[6][3])
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": "ops", "roles": "[admin reader]"}}}
    code, payload, _ = invoke("execute_failover", event)
    assert code == 404, payload  # admin accepted; the proxy does not exist


def _seed_tenant_a() -> dict:
    def ok(name, method, path, body, tok=A):
        code, payload, _ = invoke(name, http_event(method, path, body=body, token_value=tok))
        assert code in {200, 201}, payload
        return payload["data"]

    ok("create_config", "POST", "/proxy/failover/config", {"proxyId": "a-proxy"})
    first = ok(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "a-proxy", "instanceData": {"instanceName": "one"}},
    )
    second = ok(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "a-proxy", "instanceData": {"instanceName": "two"}},
    )
    ok("report_health", "PUT", f"/proxy/instances/{second['id']}/health", {"healthStatus": "healthy"})
    event = ok(
        "execute_failover",
        "POST",
        "/proxy/failover/execute",
        {
            "proxyId": "a-proxy",
            "sourceInstanceId": first["id"],
            "targetInstanceId": second["id"],
            "reason": "x",
        },
        ADMIN,
    )
    return {"first": first["id"], "second": second["id"], "event": event["id"]}


def test_user_b_sees_and_changes_nothing_of_user_a(db):
    a = _seed_tenant_a()
    snapshot = db.autocommit().run(
        "SELECT (SELECT json_agg(t ORDER BY id)::text FROM proxy_instances t),"
        " (SELECT json_agg(t ORDER BY proxy_id)::text FROM proxies t),"
        " (SELECT json_agg(t ORDER BY id)::text FROM proxy_failover_events t)"
    )
    attempts = [
        (
            "create_config",
            "POST",
            "/proxy/failover/config",
            {"proxyId": "a-proxy", "config": {"enableAutoFailover": False}},
        ),
        ("get_config", "GET", "/proxy/failover/config/a-proxy", None),
        (
            "register_instance",
            "POST",
            "/proxy/instances",
            {"proxyId": "a-proxy", "instanceData": {"instanceName": "evil"}},
        ),
        ("list_instances", "GET", "/proxy/a-proxy/instances", None),
        ("report_health", "PUT", f"/proxy/instances/{a['second']}/health", {"healthStatus": "unhealthy"}),
        ("evaluate_failover", "POST", "/proxy/failover/evaluate", {"proxyId": "a-proxy"}),
        ("get_redundancy", "GET", "/proxy/a-proxy/redundancy", None),
        ("list_events", "GET", "/proxy/a-proxy/failover/events", None),
    ]
    for name, method, path, body in attempts:
        code, payload, _ = invoke(name, http_event(method, path, body=body, token_value=B))
        assert code == 404, (name, payload)
        assert "a-proxy" not in json.dumps(payload.get("data", "")), name
    # admin-only endpoints refuse B before looking at anything
    for name, method, path, body in [
        (
            "execute_failover",
            "POST",
            "/proxy/failover/execute",
            {
                "proxyId": "a-proxy",
                "sourceInstanceId": a["second"],
                "targetInstanceId": a["first"],
                "reason": "x",
                "force": True,
            },
        ),
        ("complete_event", "PUT", f"/proxy/failover/events/{a['event']}/complete", {"status": "failed"}),
        (
            "update_redundancy",
            "PUT",
            "/proxy/a-proxy/redundancy",
            {"activeInstanceId": a["first"], "force": True},
        ),
    ]:
        code, _, _ = invoke(name, http_event(method, path, body=body, token_value=B))
        assert code == 403, name
    after = db.autocommit().run(
        "SELECT (SELECT json_agg(t ORDER BY id)::text FROM proxy_instances t),"
        " (SELECT json_agg(t ORDER BY proxy_id)::text FROM proxies t),"
        " (SELECT json_agg(t ORDER BY id)::text FROM proxy_failover_events t)"
    )
    assert after == snapshot


def test_admins_see_every_tenant(db):
    _seed_tenant_a()
    code, payload, _ = invoke(
        "list_instances", http_event("GET", "/proxy/a-proxy/instances", token_value=ADMIN)
    )
    assert code == 200 and len(payload["data"]) == 2
