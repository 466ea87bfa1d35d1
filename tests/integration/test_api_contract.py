"""Every endpoint through its real handler with HTTP API v2 events on real PostgreSQL: success paths,
every error status of the contract, limits, and PostgreSQL failures."""

from __future__ import annotations

import json
import uuid

import pytest
from proxy_failover.store import aggregate as proxy_store
from proxy_failover.store.connect import ConnectParams
from proxy_failover.store.db import Database, set_database

from tests.helpers import ROOT, http_event, invoke, sample_event, token

USER = token("user-a")
ADMIN = token("ops", admin=True)


def call(name, method, path, body=None, tok=USER, **kw):
    return invoke(name, http_event(method, path, body=body, token_value=tok, **kw))


def register(proxy, name, priority=100, tok=USER, **extra):
    code, body, _ = call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": proxy, "instanceData": {"instanceName": name, "priority": priority, **extra}},
        tok,
    )
    assert code == 201, body
    return body["data"]


def healthy(instance_id, tok=USER):
    code, body, _ = call(
        "report_health", "PUT", f"/proxy/instances/{instance_id}/health", {"healthStatus": "healthy"}, tok
    )
    assert code == 200, body
    return body["data"]


def test_instances_are_listed_by_priority_then_weight(db):
    register("p", "low", priority=5, weight=10)
    register("p", "heavy", priority=5, weight=90)
    register("p", "first", priority=1)
    code, body, _ = call("list_instances", "GET", "/proxy/p/instances")
    assert code == 200
    assert [i["instanceName"] for i in body["data"]] == ["first", "heavy", "low"]
    assert [i["isActive"] for i in body["data"]] == [False, False, True]
    new = body["data"][0]
    assert (new["healthStatus"], new["consecutiveFailures"], new["consecutiveSuccesses"]) == ("unknown", 0, 0)


def test_evaluate_returns_the_decision_and_changes_nothing(db):
    a = register("p", "a", 1)
    b = register("p", "b", 2)
    healthy(b["id"])
    call(
        "create_config",
        "POST",
        "/proxy/failover/config",
        {"proxyId": "p", "config": {"enableAutoFailover": False}},
    )
    for _ in range(3):
        call("report_health", "PUT", f"/proxy/instances/{a['id']}/health", {"healthStatus": "unhealthy"})
    code, body, _ = call("evaluate_failover", "POST", "/proxy/failover/evaluate", {"proxyId": "p"})
    assert code == 200
    assert body["data"] == {
        "proxyId": "p",
        "shouldFailover": False,
        "reason": "auto_failover_disabled",
        "activeInstanceId": a["id"],
        "sourceInstanceId": None,
        "targetInstanceId": None,
        "strategy": None,
    }
    call(
        "create_config",
        "POST",
        "/proxy/failover/config",
        {"proxyId": "p", "config": {"enableAutoFailover": True}},
    )
    code, body, _ = call("evaluate_failover", "POST", "/proxy/failover/evaluate", {"proxyId": "p"})
    assert body["data"]["shouldFailover"] is True
    assert body["data"]["targetInstanceId"] == b["id"] and body["data"]["strategy"] == "priority"
    code, again, _ = call("evaluate_failover", "POST", "/proxy/failover/evaluate", {"proxyId": "p"})
    assert again["data"] == body["data"]


def test_redundancy_put_recomputes_and_switches_as_a_manual_event(db):
    a = register("p", "a", 1)
    b = register("p", "b", 2)
    healthy(a["id"])
    healthy(b["id"])
    code, body, _ = call(
        "update_redundancy",
        "PUT",
        "/proxy/p/redundancy",
        {
            "totalInstances": 99,
            "redundancyLevel": "multi",
            "activeInstanceId": b["id"],
            "lastFailoverReason": "drill",
        },
        ADMIN,
    )
    assert code == 200, body
    status = body["data"]
    assert status["totalInstances"] == 2 and status["redundancyLevel"] == "dual"
    assert status["activeInstanceId"] == b["id"] and status["backupInstanceIds"] == [a["id"]]
    assert status["lastFailoverReason"] == "drill" and status["isDegraded"] is False
    code, body, _ = call("list_events", "GET", "/proxy/p/failover/events")
    assert [(e["eventType"], e["status"], e["actor"]) for e in body["data"]] == [
        ("manual", "completed", "ops")
    ]


def test_events_are_newest_first_and_limited(db):
    a = register("p", "a", 1)
    b = register("p", "b", 2)
    healthy(a["id"])
    healthy(b["id"])
    for k in range(4):
        src, dst = (a, b) if k % 2 == 0 else (b, a)
        code, body, _ = call(
            "execute_failover",
            "POST",
            "/proxy/failover/execute",
            {"proxyId": "p", "sourceInstanceId": src["id"], "targetInstanceId": dst["id"], "reason": f"r{k}"},
            ADMIN,
        )
        assert code == 200, body
    code, body, _ = call("list_events", "GET", "/proxy/p/failover/events", query={"limit": "3"})
    assert code == 200
    assert [e["reason"] for e in body["data"]] == ["r3", "r2", "r1"]


def test_openapi_document_is_public(db):
    code, body, _headers = invoke("openapi", http_event("GET", "/openapi.json"))
    assert code == 200 and body["openapi"].startswith("3.")
    operations = [(method, path) for path, item in body["paths"].items() for method in item]
    # the contract's twelve endpoints, operations 13-19, the fleet (20-23), the brake (24, 25) and
    # the console (26; its script and styles are files of the page, not operations)
    assert len(operations) == 26


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"proxyId": "p", "config": {"failoverStrategy": "fastest"}}, "config.failoverStrategy"),
        ({"proxyId": "p", "config": {"unhealthyThreshold": 0}}, "config.unhealthyThreshold"),
        ({"proxyId": "p", "config": {"unhealthyThreshold": 2.5}}, "config.unhealthyThreshold"),
        ({"proxyId": "p", "config": {"unhealthyThreshold": "3"}}, "config.unhealthyThreshold"),
        (
            {"proxyId": "p", "config": {"healthCheckIntervalSeconds": 10**12}},
            "config.healthCheckIntervalSeconds",
        ),
        (
            {"proxyId": "p", "config": {"healthCheckIntervalSeconds": 5, "healthCheckTimeoutSeconds": 5}},
            "config",
        ),
        ({"proxyId": "p", "config": {"surprise": True}}, "config.surprise"),
        ({"proxyId": "has space", "config": {}}, "proxyId"),
        ({"proxyId": "x" * 256}, "proxyId"),
        ({"config": {}}, "proxyId"),
    ],
)
def test_invalid_config_is_400_with_details(db, body, field):
    code, payload, _ = call("create_config", "POST", "/proxy/failover/config", body)
    assert code == 400, payload
    error = payload["error"]
    assert error["code"] == "PROXY_FAILOVER_001" and error["statusCode"] == 400
    assert any(d["field"].startswith(field) for d in error["details"]), error["details"]
    assert db.autocommit().run("SELECT count(*) FROM proxies")[0][0] == 0


def test_timeout_not_below_the_stored_interval_is_400(db):
    call(
        "create_config",
        "POST",
        "/proxy/failover/config",
        {"proxyId": "p", "config": {"healthCheckIntervalSeconds": 10}},
    )
    code, payload, _ = call(
        "create_config",
        "POST",
        "/proxy/failover/config",
        {"proxyId": "p", "config": {"healthCheckTimeoutSeconds": 10}},
    )
    assert code == 400 and payload["error"]["code"] == "PROXY_FAILOVER_001"


@pytest.mark.parametrize("raw", ["{", "[]", "null", '"text"', "", '{"proxyId": "p", "proxyId": 5}'])
def test_malformed_json_is_400(db, raw):
    code, payload, _ = invoke(
        "evaluate_failover", http_event("POST", "/proxy/failover/evaluate", token_value=USER, raw_body=raw)
    )
    assert code == 400 and payload["error"]["code"] == "PROXY_FAILOVER_001"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/health",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "tcp://example.com",
        "http://user:pw@example.com/",
        "http://0.0.0.0/",
        "http://10.0.0.5/health",
        "http://127.0.0.1:8080/",
        "http://metadata.google.internal/",
        "http://2852039166/",
        "http://0xA9FEA9FE/",
        "http://127.1:8080/",
        "http://0/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
    ],
)
def test_forbidden_or_malformed_health_check_urls_are_400(db, url):
    code, payload, _ = call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "p", "instanceData": {"instanceName": "a", "healthCheckUrl": url}},
    )
    assert code == 400, payload
    assert payload["error"]["code"] in {"PROXY_FAILOVER_001", "PROXY_FAILOVER_002"}
    assert db.autocommit().run("SELECT count(*) FROM proxy_instances")[0][0] == 0


def test_duplicate_instance_name_is_409(db):
    register("p", "a")
    code, payload, _ = call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "p", "instanceData": {"instanceName": "a"}},
    )
    assert code == 409 and payload["error"]["code"] == "PROXY_FAILOVER_005"


def test_not_found_cases(db):
    assert (
        call("get_config", "GET", "/proxy/failover/config/none")[1]["error"]["code"] == "PROXY_FAILOVER_003"
    )
    register("p", "a")
    code, payload, _ = call("get_config", "GET", "/proxy/failover/config/p")
    assert (code, payload["error"]["code"]) == (404, "PROXY_FAILOVER_003")
    code, payload, _ = call("create_config", "POST", "/proxy/failover/config", {"proxyId": "cfg-only"})
    code, payload, _ = call("get_redundancy", "GET", "/proxy/cfg-only/redundancy")
    assert (code, payload["error"]["code"]) == (404, "PROXY_FAILOVER_016")
    missing = str(uuid.uuid4())
    code, payload, _ = call(
        "report_health", "PUT", f"/proxy/instances/{missing}/health", {"healthStatus": "healthy"}
    )
    assert (code, payload["error"]["code"]) == (404, "PROXY_FAILOVER_007")
    code, payload, _ = call(
        "complete_event", "PUT", f"/proxy/failover/events/{missing}/complete", {"status": "completed"}, ADMIN
    )
    assert (code, payload["error"]["code"]) == (404, "PROXY_FAILOVER_013")
    for name, path in [
        ("list_instances", "/proxy/ghost/instances"),
        ("list_events", "/proxy/ghost/failover/events"),
    ]:
        code, payload, _ = call(name, "GET", path)
        assert (code, payload["error"]["code"]) == (404, "PROXY_FAILOVER_004")
    code, payload, _ = call("evaluate_failover", "POST", "/proxy/failover/evaluate", {"proxyId": "ghost"})
    assert (code, payload["error"]["code"]) == (404, "PROXY_FAILOVER_004")


def test_target_not_healthy_is_409_unless_forced(db):
    a = register("p", "a", 1)
    b = register("p", "b", 2)
    body = {"proxyId": "p", "sourceInstanceId": a["id"], "targetInstanceId": b["id"], "reason": "try"}
    code, payload, _ = call("execute_failover", "POST", "/proxy/failover/execute", body, ADMIN)
    assert (code, payload["error"]["code"]) == (409, "PROXY_FAILOVER_011")
    code, payload, _ = call(
        "execute_failover", "POST", "/proxy/failover/execute", {**body, "force": True}, ADMIN
    )
    assert code == 200 and payload["data"]["targetInstanceId"] == b["id"]
    same = {**body, "sourceInstanceId": b["id"], "targetInstanceId": b["id"]}
    code, payload, _ = call("execute_failover", "POST", "/proxy/failover/execute", same, ADMIN)
    assert code == 400


@pytest.mark.parametrize(
    ("name", "method", "path", "body"),
    [
        (
            "execute_failover",
            "POST",
            "/proxy/failover/execute",
            {
                "proxyId": "p",
                "sourceInstanceId": str(uuid.uuid4()),
                "targetInstanceId": str(uuid.uuid4()),
                "reason": "x",
            },
        ),
        ("complete_event", "PUT", f"/proxy/failover/events/{uuid.uuid4()}/complete", {"status": "completed"}),
        ("update_redundancy", "PUT", "/proxy/p/redundancy", {}),
    ],
)
def test_admin_endpoints_are_403_for_users(db, name, method, path, body):
    code, payload, _ = call(name, method, path, body)
    assert (code, payload["error"]["code"]) == (403, "PROXY_FAILOVER_021")


@pytest.mark.parametrize(
    ("name", "method", "path", "query"),
    [
        ("report_health", "PUT", "/proxy/instances/not-a-uuid/health", None),
        ("complete_event", "PUT", "/proxy/failover/events/1234/complete", None),
        ("list_events", "GET", "/proxy/p/failover/events", {"limit": "0"}),
        ("list_events", "GET", "/proxy/p/failover/events", {"limit": "501"}),
        ("list_events", "GET", "/proxy/p/failover/events", {"limit": "ten"}),
        ("get_config", "GET", "/proxy/failover/config/bad%20id", None),
    ],
)
def test_bad_ids_and_query_values_are_400(db, name, method, path, query):
    register("p", "a")
    body = {"healthStatus": "healthy"} if "health" in path else {"status": "completed"}
    code, payload, _ = call(name, method, path, body if method == "PUT" else None, ADMIN, query=query)
    assert code == 400, payload


def test_health_report_validation(db):
    a = register("p", "a")
    path = f"/proxy/instances/{a['id']}/health"
    for bad in [
        {"healthStatus": "sick"},
        {"healthStatus": "healthy", "metrics": {"cpuPercent": 101}},
        {"healthStatus": "healthy", "metrics": {"connectionCount": -1}},
        {"healthStatus": "healthy", "metrics": {"averageLatencyMs": 1e300}},
        {"healthStatus": "healthy", "metrics": {"shoeSize": 9}},
        {},
    ]:
        code, payload, _ = call("report_health", "PUT", path, bad)
        assert code == 400, (bad, payload)
    code, payload, _ = call(
        "report_health",
        "PUT",
        path,
        {"healthStatus": "healthy", "metrics": {"cpuPercent": 12, "connectionCount": 4}},
    )
    assert code == 200 and payload["data"]["connectionCount"] == 4
    stored = db.autocommit().run("SELECT cpu_percent, connection_count FROM proxy_instance_metrics")
    assert stored == [[12.0, 4]]


def test_oversized_body_is_413(db):
    huge = {"proxyId": "p", "instanceData": {"instanceName": "a", "instanceType": "x" * 70_000}}
    code, payload, _ = call("register_instance", "POST", "/proxy/instances", huge)
    assert (code, payload["error"]["code"]) == (413, "PROXY_FAILOVER_025")


def test_unknown_route_and_method(db):
    code, payload, _ = call("get_config", "GET", "/nowhere")
    assert (code, payload["error"]["code"]) == (404, "PROXY_FAILOVER_023")
    code, payload, _ = call("get_config", "DELETE", "/proxy/failover/config/p")
    assert (code, payload["error"]["code"]) == (405, "PROXY_FAILOVER_024")


def test_database_down_is_503_with_retry_after(db):
    set_database(Database(ConnectParams(user="postgres", database="postgres", host="127.0.0.1", port=1)))
    code, payload, headers = call("create_config", "POST", "/proxy/failover/config", {"proxyId": "p"})
    assert code == 503 and headers["Retry-After"] == "5"
    assert payload["error"]["code"] == "PROXY_FAILOVER_022"
    code, payload, headers = call("list_instances", "GET", "/proxy/p/instances")
    assert code == 503


def test_connection_lost_mid_write_is_503_and_writes_nothing(db, monkeypatch):
    real = proxy_store.read_locked

    def lose_connection(con, *args, **kwargs):
        # Given the server drops this session after the proxy row was created and locked
        killer = Database(db.params)
        killer.connection().run(f"SELECT pg_terminate_backend({con.run('SELECT pg_backend_pid()')[0][0]})")
        killer.discard()
        return real(con, *args, **kwargs)

    monkeypatch.setattr(proxy_store, "read_locked", lose_connection)
    code, _payload, headers = call(
        "register_instance",
        "POST",
        "/proxy/instances",
        {"proxyId": "p", "instanceData": {"instanceName": "a"}},
    )
    assert code == 503 and "Retry-After" in headers
    monkeypatch.setattr(proxy_store, "read_locked", real)
    assert db.autocommit().run("SELECT count(*) FROM proxy_instances")[0][0] == 0
    assert db.autocommit().run("SELECT count(*) FROM proxies")[0][0] == 0


@pytest.mark.parametrize(
    "name",
    sorted(
        p.stem for p in (ROOT / "events").glob("*.json") if p.stem not in {"sweep", "sweep_worker", "migrate"}
    ),
)
def test_every_sample_event_gets_a_contract_response(db, name):
    response = (
        __import__("tests.helpers", fromlist=["function"]).function(name).handler(sample_event(name), None)
    )
    assert response["statusCode"] < 500
    if response["headers"].get("Content-Type", "").startswith("text/html"):  # the console's page
        assert response["body"].lstrip().lower().startswith("<!doctype html>")
        return
    body = json.loads(response["body"])
    assert ("data" in body) or ("error" in body) or ("openapi" in body)
