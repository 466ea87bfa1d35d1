"""Odd input at the edge: ids in other spellings, numbers that are not ASCII, lax JSON types, odd
claims, NUL bytes. Each is a clear 4xx (or the same row under its canonical spelling), never a 500, and
every message is the service's own."""

from __future__ import annotations

import time

import pytest

from tests.helpers import http_event, invoke, token

USER = token("user-a")
ADMIN = token("ops", admin=True)


def call(name, method, path, body=None, tok=USER, **kw):
    return invoke(name, http_event(method, path, body=body, token_value=tok, **kw))


def pair(proxy="edge"):
    call(
        "create_config",
        "POST",
        "/proxy/failover/config",
        {"proxyId": proxy, "config": {"unhealthyThreshold": 1}},
    )
    ids = []
    for priority, name in enumerate("ab"):
        code, body, _ = call(
            "register_instance",
            "POST",
            "/proxy/instances",
            {"proxyId": proxy, "instanceData": {"instanceName": name, "priority": priority}},
        )
        assert code == 201, body
        ids.append(body["data"]["id"])
        call("report_health", "PUT", f"/proxy/instances/{ids[-1]}/health", {"healthStatus": "healthy"})
    return ids


def test_an_upper_case_instance_id_names_the_same_instance_and_fails_over(db):
    a, b = pair()
    code, body, _ = call(
        "report_health", "PUT", f"/proxy/instances/{a.upper()}/health", {"healthStatus": "unhealthy"}
    )
    assert code == 200, body
    assert body["data"]["id"] == a and body["data"]["healthStatus"] == "unhealthy"
    assert not body["data"]["isActive"]
    _, redundancy, _ = call("get_redundancy", "GET", "/proxy/edge/redundancy")
    assert redundancy["data"]["activeInstanceId"] == b


@pytest.mark.parametrize("limit", ["²", "١٢", "\uff11\uff12", "1.5", "1e2", " 5", "5\n", "0x10"])
def test_only_ascii_whole_numbers_are_numbers(db, limit):
    pair()
    code, body, _ = call("list_events", "GET", "/proxy/edge/failover/events", query={"limit": limit})
    assert code == 400 and body["error"]["code"] == "PROXY_FAILOVER_001", (limit, body)


@pytest.mark.parametrize(
    "path",
    [
        "/proxy/edge\n/instances",
        "/proxy/edge%0A/instances",
        "/proxy/edge%00/instances",
        "/proxy/%20edge/instances",
    ],
)
def test_a_proxy_id_is_matched_whole(db, path):
    code, body, _ = call("list_instances", "GET", path)
    assert code == 400 and body["error"]["code"] == "PROXY_FAILOVER_001", (path, body)


def test_a_percent_encoded_proxy_id_is_decoded(db):
    pair("edge:1")
    code, body, _ = call("list_instances", "GET", "/proxy/edge%3A1/instances")
    assert code == 200 and len(body["data"]) == 2


@pytest.mark.parametrize(
    "name,method,path,body",
    [
        (
            "report_health",
            "PUT",
            "/proxy/instances/{a}/health",
            {"healthStatus": "healthy", "metrics": {"cpuPercent": "50"}},
        ),
        (
            "report_health",
            "PUT",
            "/proxy/instances/{a}/health",
            {"healthStatus": "healthy", "metrics": {"connectionCount": True}},
        ),
        (
            "report_health",
            "PUT",
            "/proxy/instances/{a}/health",
            {"healthStatus": "healthy", "metrics": {"cpu_percent": 5}},
        ),
        ("report_health", "PUT", "/proxy/instances/{a}/health", {"health_status": "healthy"}),
        ("create_config", "POST", "/proxy/failover/config", {"proxy_id": "edge"}),
        (
            "create_config",
            "POST",
            "/proxy/failover/config",
            {"proxyId": "edge", "config": {"enableAutoFailover": 1}},
        ),
        (
            "create_config",
            "POST",
            "/proxy/failover/config",
            {"proxyId": "edge", "config": {"unhealthyThreshold": "3"}},
        ),
        ("update_redundancy", "PUT", "/proxy/edge/redundancy", {"force": "yes"}),
        ("update_redundancy", "PUT", "/proxy/edge/redundancy", {"totalInstances": "2"}),
        ("update_redundancy", "PUT", "/proxy/edge/redundancy", {"active_instance_id": "{b}"}),
        (
            "execute_failover",
            "POST",
            "/proxy/failover/execute",
            {
                "proxyId": "edge",
                "sourceInstanceId": "{a}",
                "targetInstanceId": "{b}",
                "reason": "x",
                "force": "yes",
            },
        ),
    ],
)
def test_lax_json_types_and_snake_case_keys_are_refused(db, name, method, path, body):
    a, b = pair()

    def fill(value):
        if isinstance(value, str):
            return value.replace("{a}", a).replace("{b}", b)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    code, answer, _ = call(name, method, fill(path), fill(body), tok=ADMIN)
    assert code == 400 and answer["error"]["code"] == "PROXY_FAILOVER_001", answer
    assert answer["error"]["details"]


def test_a_nul_character_is_refused_by_us_not_by_postgresql(db):
    code, body, _ = call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "edge", "instanceData": {"instanceName": "a\u0000b"}},
    )
    assert code == 400 and body["error"]["code"] == "PROXY_FAILOVER_001"
    assert body["error"]["details"][0]["field"] == "instanceData.instanceName"
    assert "0x00" not in body["error"]["message"] and "UTF8" not in str(body)


def test_a_time_claim_must_be_a_number(db):
    pair()
    for claim in ("exp", "nbf", "iat"):
        forged = token("user-a", **{claim: str(int(time.time()) + (600 if claim == "exp" else -5))})
        code, body, _ = call("list_instances", "GET", "/proxy/edge/instances", tok=forged)
        assert code == 401 and body["error"]["code"] == "PROXY_FAILOVER_020", (claim, body)


def _as_gateway(claims):
    event = http_event("PUT", "/proxy/edge/redundancy", body={})
    event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event


def test_only_a_list_holding_the_admin_group_makes_an_admin(db, monkeypatch):
    pair()
    # Tokens the layer verifies: a JSON list only
    for roles, admin in (
        (["admin"], True),
        (["x", "admin"], True),
        ("[x,admin]", False),
        ("admin", False),
        ("[admin]", False),
    ):
        code, _, _ = call(
            "update_redundancy", "PUT", "/proxy/edge/redundancy", {}, tok=token("ops", roles=roles)
        )
        assert code == (200 if admin else 403), roles
    # API Gateway's authorizer renders arrays as "[a b]": that form only, a comma is no separator
    # ("[x, admin]" is how it renders the list ["x,", "admin"], which holds admin)
    for rendered, admin in (
        ("[admin]", True),
        ("[user admin]", True),
        ("[x,admin]", False),
        ("[x, admin]", True),
        ("admin,x", False),
    ):
        code, _, _ = invoke("update_redundancy", _as_gateway({"sub": "ops", "roles": rendered}))
        assert code == (200 if admin else 403), rendered
    # The admin group is configurable
    monkeypatch.setenv("ADMIN_GROUP", "platform-ops")
    from proxy_failover.settings import reset_settings

    reset_settings()
    code, _, _ = call(
        "update_redundancy", "PUT", "/proxy/edge/redundancy", {}, tok=token("ops", roles=["platform-ops"])
    )
    assert code == 200
    code, _, _ = call(
        "update_redundancy", "PUT", "/proxy/edge/redundancy", {}, tok=token("ops", roles=["admin"])
    )
    assert code == 403
