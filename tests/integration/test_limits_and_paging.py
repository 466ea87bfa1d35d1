"""Nothing on a hot path grows without bound: instances per proxy are capped, and lists are read a
page at a time with cursors."""

from __future__ import annotations

import pytest

from tests.helpers import http_event, invoke, token

USER = token("user-a")
ADMIN = token("ops", admin=True)


def call(name, method, path, body=None, tok=USER, **kw):
    return invoke(name, http_event(method, path, body=body, token_value=tok, **kw))


def register(proxy, name, **data):
    return call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": proxy, "instanceData": {"instanceName": name, **data}},
    )


def test_registration_beyond_the_cap_is_409_and_writes_nothing(db, monkeypatch):
    from proxy_failover.settings import reset_settings

    monkeypatch.setenv("MAX_INSTANCES_PER_PROXY", "3")
    reset_settings()
    for k in range(3):
        assert register("capped", f"i{k}")[0] == 201
    code, body, _ = register("capped", "one-too-many")
    assert code == 409 and body["error"]["code"] == "PROXY_FAILOVER_028", body
    assert db.autocommit().run("SELECT count(*) FROM proxy_instances WHERE proxy_id = 'capped'") == [[3]]


def pages(name, path, limit):
    """Every page of a list, following nextCursor."""
    seen, cursor = [], None
    while True:
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        code, body, _ = call(name, "GET", path, query=query)
        assert code == 200, body
        assert len(body["data"]) <= limit
        seen.append(body["data"])
        cursor = body["nextCursor"]
        if cursor is None:
            return seen


def test_instances_are_listed_a_page_at_a_time_in_order(db):
    for k in range(7):
        register("paged", f"i{k}", priority=k % 3, weight=10 * k)
    _, whole, _ = call("list_instances", "GET", "/proxy/paged/instances")
    assert whole["nextCursor"] is None and len(whole["data"]) == 7
    paged = pages("list_instances", "/proxy/paged/instances", 2)
    assert [len(p) for p in paged] == [2, 2, 2, 1]
    assert [i["id"] for p in paged for i in p] == [i["id"] for i in whole["data"]]


def test_events_are_listed_a_page_at_a_time_newest_first(db):
    ids = [register("ledger", n, priority=k)[1]["data"]["id"] for k, n in enumerate("ab")]
    for i in ids:
        call("report_health", "PUT", f"/proxy/instances/{i}/health", {"healthStatus": "healthy"})
    for k in range(5):
        source, target = (ids[0], ids[1]) if k % 2 == 0 else (ids[1], ids[0])
        body = {
            "proxyId": "ledger",
            "sourceInstanceId": source,
            "targetInstanceId": target,
            "reason": f"r{k}",
        }
        assert call("execute_failover", "POST", "/proxy/failover/execute", body, tok=ADMIN)[0] == 200
    _, whole, _ = call("list_events", "GET", "/proxy/ledger/failover/events")
    paged = pages("list_events", "/proxy/ledger/failover/events", 2)
    assert [e["id"] for p in paged for e in p] == [e["id"] for e in whole["data"]]
    assert [e["reason"] for p in paged for e in p][:5] == ["r4", "r3", "r2", "r1", "r0"]


@pytest.mark.parametrize(
    "cursor", ["not-base64!", "e30", "WzEsMl0", "WyJ4IiwiMTIzIl0", "W251bGwsbnVsbCxudWxsLG51bGxd", "x" * 600]
)
def test_a_cursor_the_api_did_not_hand_out_is_400(db, cursor):
    register("paged", "a")
    for name, path in (
        ("list_instances", "/proxy/paged/instances"),
        ("list_events", "/proxy/paged/failover/events"),
    ):
        code, body, _ = call(name, "GET", path, query={"cursor": cursor})
        assert code == 400 and body["error"]["code"] == "PROXY_FAILOVER_001", (name, cursor, body)
