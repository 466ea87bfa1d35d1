"""Input an attacker chooses: ids and owners that spell `null`, claims that cannot be encoded, cursors
at the edge of time, addresses with a trailing dot, admin groups with spaces. Each is a clear 4xx (or
works as any other value would), never a 500, never a partial write, and never poisons the connection
the next request uses."""

from __future__ import annotations

import base64
import json

import pytest
from proxy_failover.errors import DatabaseError
from proxy_failover.identity import Principal
from proxy_failover.paging import encode_cursor
from proxy_failover.service import FailoverService

from tests.helpers import http_event, invoke, token

USER = token("user-a")
OTHER = token("user-b")
ADMIN = token("ops", admin=True)


def call(name, method, path, body=None, tok=USER, **kw):
    return invoke(name, http_event(method, path, body=body, token_value=tok, **kw))


def healthy_pair(proxy_id: str, tok: str = USER) -> list[str]:
    """A proxy (threshold 1) with instances a (active) and b, both reported healthy: their ids."""
    code, body, _ = call(
        "create_config",
        "POST",
        "/proxy/failover/config",
        {"proxyId": proxy_id, "config": {"unhealthyThreshold": 1}},
        tok=tok,
    )
    assert code == 201, body
    ids = []
    for priority, name in enumerate("ab"):
        code, body, _ = call(
            "register_instance",
            "POST",
            "/proxy/instances",
            {"proxyId": proxy_id, "instanceData": {"instanceName": name, "priority": priority}},
            tok=tok,
        )
        assert code == 201, body
        ids.append(body["data"]["id"])
        code, _, _ = call(
            "report_health", "PUT", f"/proxy/instances/{ids[-1]}/health", {"healthStatus": "healthy"}, tok=tok
        )
        assert code == 200
    return ids


@pytest.mark.parametrize("proxy_id", ["null", "Null", "nULL", "NULL"])
def test_a_proxy_id_that_spells_null_is_a_proxy_like_any_other(db, proxy_id):
    # Given a proxy whose id PostgreSQL would read as NULL in an unquoted array literal
    ids = healthy_pair(proxy_id)
    # When its active instance fails, and the proxy is read back
    code, body, _ = call(
        "report_health", "PUT", f"/proxy/instances/{ids[0]}/health", {"healthStatus": "unhealthy"}
    )
    assert code == 200, body
    # Then it failed over, like any proxy, and another tenant still cannot see it
    code, body, _ = call("get_redundancy", "GET", f"/proxy/{proxy_id}/redundancy")
    assert code == 200 and body["data"]["activeInstanceId"] == ids[1]
    code, body, _ = call("get_config", "GET", f"/proxy/failover/config/{proxy_id}", tok=OTHER)
    assert code == 404


def test_an_owner_named_null_fails_over_and_counts_storms(db):
    # Given an owner whose subject spells null (the storm rows are keyed by it)
    owner = token("null")
    ids = healthy_pair("p", owner)
    # When its active instance fails
    code, body, _ = call(
        "report_health", "PUT", f"/proxy/instances/{ids[0]}/health", {"healthStatus": "unhealthy"}, tok=owner
    )
    # Then the failover is written like any other
    assert code == 200, body
    code, body, _ = call("list_events", "GET", "/proxy/p/failover/events", tok=owner)
    assert code == 200 and [e["eventType"] for e in body["data"] if e["eventType"] != "recovery"] == [
        "failover"
    ]


def test_a_failed_write_commits_nothing_it_began(db):
    # Given a write whose engine step cannot find the proxy it locked (a bug, simulated)
    service = FailoverService(db)

    def lock(con):
        from proxy_failover.store import locks

        locks.ensure_proxy(con, "half", Principal("user-a"))
        return ["not-the-one-locked"]

    from proxy_failover.domain.change import Step

    # When the unit of work runs it
    with pytest.raises(DatabaseError):
        service.write(lock, lambda aggregate, now: Step(), actor="user-a")
    # Then the insert the lock made was rolled back with the rest
    assert db.autocommit().run("SELECT count(*) FROM proxies WHERE proxy_id = 'half'")[0][0] == 0


@pytest.mark.parametrize("subject", ["w\ud800", "\udfff", "a\ud83d"])
def test_a_subject_that_is_no_unicode_text_is_401_and_the_next_request_is_served(db, subject):
    # Given a token whose sub holds a lone surrogate
    bad = token(subject)
    # When it is used, then a valid request follows on the same connection
    code, body, _ = call(
        "create_config", "POST", "/proxy/failover/config", {"proxyId": "p1", "config": {}}, tok=bad
    )
    assert code == 401 and body["error"]["code"] == "PROXY_FAILOVER_020", body
    code, body, _ = call(
        "create_config", "POST", "/proxy/failover/config", {"proxyId": "p2", "config": {}}, tok=OTHER
    )
    assert code == 201, body
    # Then the valid one was stored, and is seen from a fresh connection
    code, body, _ = call("get_config", "GET", "/proxy/failover/config/p2", tok=OTHER)
    assert code == 200, body
    assert db.autocommit().run("SELECT owner_id FROM proxies")[0][0] == "user-b"


def test_a_statement_the_driver_cannot_send_leaves_the_connection_clean(db):
    # Given a transaction whose first statement carries a value the driver cannot encode
    with pytest.raises(Exception), db.transaction() as con:
        con.run("SELECT CAST(:v AS text)", v="w\ud800")
    # When the next unit of work runs on the layer's connection
    con = db.connection()
    # Then it is not inside a transaction the broken statement began
    assert not con.in_transaction
    assert con.run("SELECT 1") == [[1]]
    with db.transaction() as con:
        con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES ('after', 'u')")
    assert db.autocommit().run("SELECT count(*) FROM proxies WHERE proxy_id = 'after'")[0][0] == 1


def _events_cursor(key) -> str:
    return encode_cursor(tuple(key))


@pytest.mark.parametrize(
    "cursor",
    [
        _events_cursor(["9999-12-31T23:59:59-01:00", "6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f"]),
        _events_cursor(["0001-01-01T00:00:00+01:00", "6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f"]),
        _events_cursor(["2026-01-01T00:00:00+00:00", "6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f"]) + "\x00",
        _events_cursor(["2026-01-01T00:00:00+00:00", "6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f"]) + "=\x00",
        "\x00" + _events_cursor(["2026-01-01T00:00:00+00:00", "6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f"]),
        _events_cursor(["2026-01-01T00:00:00+00:00\x00", "6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f"]),
        base64.b64encode(
            json.dumps(["2026-01-01T00:00:00+00:00", "6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f"]).encode()
        ).decode()
        + " ",
    ],
)
def test_a_forged_cursor_is_400(db, cursor):
    call("create_config", "POST", "/proxy/failover/config", {"proxyId": "p1", "config": {}})
    code, body, _ = call("list_events", "GET", "/proxy/p1/failover/events", query={"cursor": cursor})
    assert code == 400 and body["error"]["code"] == "PROXY_FAILOVER_001", (cursor, body)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254.:80/",
        "http://169.254.169.254./latest/meta-data/",
        "https://[fe80::1]./",
        "tcp://169.254.169.254.:22",
        "http://0251.0376.0251.0376./",
    ],
)
def test_an_address_with_a_trailing_dot_is_the_address(db, url):
    code, body, _ = call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "edge", "instanceData": {"instanceName": "a", "healthCheckUrl": url}},
    )
    assert code == 400 and body["error"]["code"] in {"PROXY_FAILOVER_001", "PROXY_FAILOVER_002"}, (url, body)
    # and at PATCH
    code, body, _ = call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "edge", "instanceData": {"instanceName": "b"}},
    )
    assert code == 201
    code, answer, _ = call(
        "update_instance", "PATCH", f"/proxy/instances/{body['data']['id']}", {"healthCheckUrl": url}
    )
    assert code == 400 and answer["error"]["code"] in {"PROXY_FAILOVER_001", "PROXY_FAILOVER_002"}, (
        url,
        answer,
    )


def test_a_name_with_one_trailing_dot_is_still_a_name(db):
    code, body, _ = call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {
            "proxyId": "edge",
            "instanceData": {"instanceName": "a", "healthCheckUrl": "https://health.example.com./"},
        },
    )
    assert code == 201, body


def _as_gateway(claims, bearer=None):
    event = http_event("PUT", "/proxy/edge/redundancy", body={}, token_value=bearer)
    event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event


def _rendered(value):
    """A claim as API Gateway's JWT authorizer renders it."""
    return "[" + " ".join(value) + "]" if isinstance(value, list) else str(value)


@pytest.mark.parametrize(
    "roles,admin",
    [
        (["admin"], True),
        (["x", "admin"], True),
        ("[x admin]", False),  # a string that looks like a rendered list
        (["x admin"], False),  # a group whose name holds a space
        (["[x admin]"], False),
        (["admin "], False),
        ("admin", False),
    ],
)
def test_behind_the_gateway_only_an_element_equal_to_the_admin_group_makes_an_admin(db, roles, admin):
    # Given the token the gateway verified, in the Authorization header it read, and its rendering
    healthy_pair("edge", token("ops"))
    bearer = token("ops", roles=roles)
    claims = {"sub": "ops", "roles": _rendered(roles)}
    # When it calls an admin endpoint
    code, body, _ = invoke("update_redundancy", _as_gateway(claims, bearer))
    # Then only a list whose element is "admin" is an admin
    assert code == (200 if admin else 403), (roles, body)


def test_the_local_gateway_makes_no_admin_of_a_group_with_a_space(db, monkeypatch):
    from local.apigw import Gateway, load_template, routes_from_template
    from tests.helpers import ROOT, SECRET

    monkeypatch.setenv("JWT_SECRET", SECRET)
    gateway = Gateway(routes_from_template(ROOT, load_template(ROOT / "template.yaml")))
    healthy_pair("edge", token("ops"))
    for roles, expected in ((["x admin"], 403), ("[x admin]", 403), (["x", "admin"], 200)):
        headers = {"Authorization": f"Bearer {token('ops', roles=roles)}", "Content-Type": "application/json"}
        status, _, payload, _ = gateway.invoke("PUT", "/proxy/edge/redundancy", "", headers, b"{}")
        assert status == expected, (roles, payload)
