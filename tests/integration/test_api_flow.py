"""The contract's main story through the real handlers on real PostgreSQL."""

from __future__ import annotations

from tests.helpers import drain, http_event, invoke, token

USER = token("user-a")
ADMIN = token("ops", admin=True)


def register(proxy: str, name: str, priority: int = 100, tok: str = USER, **extra: object) -> dict:
    status, body, _ = invoke(
        "register_instance",
        http_event(
            "POST",
            "/proxy/instances",
            token_value=tok,
            body={"proxyId": proxy, "instanceData": {"instanceName": name, "priority": priority, **extra}},
        ),
    )
    assert status == 201, body
    return body["data"]


def report(instance_id: str, status: str, tok: str = USER, metrics: dict | None = None) -> dict:
    body: dict = {"healthStatus": status}
    if metrics:
        body["metrics"] = metrics
    code, data, _ = invoke(
        "report_health",
        http_event("PUT", f"/proxy/instances/{instance_id}/health", token_value=tok, body=body),
    )
    assert code == 200, data
    return data["data"]


def test_config_defaults_are_merged_and_updates_keep_stored_fields(db):
    # Given a new proxy config with two fields set
    code, body, _ = invoke(
        "create_config",
        http_event(
            "POST",
            "/proxy/failover/config",
            token_value=USER,
            body={
                "proxyId": "edge-1",
                "config": {"unhealthyThreshold": 2, "failoverStrategy": "round_robin"},
            },
        ),
    )
    assert code == 201, body
    assert body["data"]["unhealthyThreshold"] == 2
    assert body["data"]["healthCheckIntervalSeconds"] == 30
    # When another field is posted
    code, body, _ = invoke(
        "create_config",
        http_event(
            "POST",
            "/proxy/failover/config",
            token_value=USER,
            body={"proxyId": "edge-1", "config": {"healthyThreshold": 5}},
        ),
    )
    # Then the earlier field is kept
    assert code == 201
    assert body["data"]["unhealthyThreshold"] == 2
    assert body["data"]["healthyThreshold"] == 5
    assert body["data"]["failoverStrategy"] == "round_robin"
    code, body, _ = invoke("get_config", http_event("GET", "/proxy/failover/config/edge-1", token_value=USER))
    assert code == 200 and body["data"]["healthyThreshold"] == 5


def test_failover_story_from_reports_to_ledger(db, sns):
    # Given a proxy with a primary and a backup, both healthy
    primary = register("edge-2", "primary", priority=1)
    backup = register("edge-2", "backup", priority=2)
    assert primary["isActive"] and not backup["isActive"]
    report(primary["id"], "healthy")
    report(backup["id"], "healthy")

    # When the primary fails three checks (default unhealthyThreshold)
    after = [report(primary["id"], "unhealthy") for _ in range(3)]

    # Then it turned unhealthy on the third, and the proxy failed over at once
    assert [a["healthStatus"] for a in after] == ["healthy", "healthy", "unhealthy"]
    assert after[-1]["consecutiveFailures"] == 3
    code, body, _ = invoke("list_instances", http_event("GET", "/proxy/edge-2/instances", token_value=USER))
    active = [i for i in body["data"] if i["isActive"]]
    assert [a["instanceName"] for a in active] == ["backup"]

    code, body, _ = invoke(
        "list_events", http_event("GET", "/proxy/edge-2/failover/events", token_value=USER)
    )
    assert code == 200
    (event,) = [e for e in body["data"] if e["eventType"] == "failover"]
    (recovery,) = [e for e in body["data"] if e["eventType"] == "recovery"]
    assert recovery["status"] == "in_progress" and recovery["sourceInstanceId"] == primary["id"]
    assert event["eventType"] == "failover" and event["status"] == "completed" and event["actor"] == "system"
    assert event["sourceInstanceId"] == primary["id"] and event["targetInstanceId"] == backup["id"]

    code, body, _ = invoke("get_redundancy", http_event("GET", "/proxy/edge-2/redundancy", token_value=USER))
    assert body["data"]["activeInstanceId"] == backup["id"]
    assert body["data"]["isDegraded"] is True
    assert body["data"]["lastFailoverReason"]

    types = [m["type"] for m in drain(sns)]
    assert "failover" in types and "instance_unhealthy" in types


def test_execute_and_complete_manual_failover(db):
    a = register("edge-3", "a", priority=1)
    b = register("edge-3", "b", priority=2)
    report(b["id"], "healthy")
    code, body, _ = invoke(
        "execute_failover",
        http_event(
            "POST",
            "/proxy/failover/execute",
            token_value=ADMIN,
            body={
                "proxyId": "edge-3",
                "sourceInstanceId": a["id"],
                "targetInstanceId": b["id"],
                "reason": "maint",
            },
        ),
    )
    assert code == 200, body
    event = body["data"]
    assert event["status"] == "in_progress" and event["actor"] == "ops"
    # a second execute from the same (no longer active) source conflicts
    code, body, _ = invoke(
        "execute_failover",
        http_event(
            "POST",
            "/proxy/failover/execute",
            token_value=ADMIN,
            body={
                "proxyId": "edge-3",
                "sourceInstanceId": a["id"],
                "targetInstanceId": b["id"],
                "reason": "again",
            },
        ),
    )
    assert code == 409 and body["error"]["code"] == "PROXY_FAILOVER_010"
    code, body, _ = invoke(
        "complete_event",
        http_event(
            "PUT",
            f"/proxy/failover/events/{event['id']}/complete",
            token_value=ADMIN,
            body={"status": "completed", "durationMs": 120},
        ),
    )
    assert code == 200 and body["data"]["status"] == "completed" and body["data"]["durationMs"] == 120
    code, body, _ = invoke(
        "complete_event",
        http_event(
            "PUT",
            f"/proxy/failover/events/{event['id']}/complete",
            token_value=ADMIN,
            body={"status": "failed"},
        ),
    )
    assert code == 409 and body["error"]["code"] == "PROXY_FAILOVER_014"
