"""`make run`'s stack end to end: real HTTP, real handlers, real sweep, notifications on disk."""

from __future__ import annotations

import subprocess
import time

from tests.e2e.running import port_open, start_stack
from tests.helpers import token
from tests.servers import FleetServer

USER = token("e2e-user")
ADMIN = token("e2e-ops", admin=True)


def wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_register_report_evaluate_execute_and_notify_then_stop_cleanly(stack):
    # Given a proxy with two registered instances
    status, body, _ = stack.request(
        "POST", "/proxy/failover/config", {"proxyId": "e2e", "config": {"unhealthyThreshold": 2}}, USER
    )
    assert status == 201, body
    ids = []
    for name in ("primary", "backup"):
        status, body, _ = stack.request(
            "POST", "/proxy/instances", {"proxyId": "e2e", "instanceData": {"instanceName": name}}, USER
        )
        assert status == 201, body
        ids.append(body["data"]["id"])
    # When both report healthy, evaluation says no failover
    for instance in ids:
        status, body, _ = stack.request(
            "PUT", f"/proxy/instances/{instance}/health", {"healthStatus": "healthy"}, USER
        )
        assert status == 200 and body["data"]["healthStatus"] == "healthy"
    status, body, _ = stack.request("POST", "/proxy/failover/evaluate", {"proxyId": "e2e"}, USER)
    assert status == 200 and body["data"]["shouldFailover"] is False
    # And an operator fails over
    status, body, _ = stack.request(
        "POST",
        "/proxy/failover/execute",
        {"proxyId": "e2e", "sourceInstanceId": ids[0], "targetInstanceId": ids[1], "reason": "e2e drill"},
        ADMIN,
    )
    assert status == 200, body
    event_id = body["data"]["id"]
    # Then the notification reaches the local SNS subscriber's file
    notice = wait_for(lambda: [n for n in stack.notices() if n.get("eventId") == event_id])
    assert notice and notice[0]["type"] == "failover" and notice[0]["actor"] == "e2e-ops"
    assert notice[0]["attributes"]["proxyId"] == "e2e"
    # And a forged token is refused in the contract's envelope
    status, body, _ = stack.request("GET", "/proxy/e2e/instances", token="forged.token.value")
    assert status == 401 and body["error"]["code"] == "PROXY_FAILOVER_020"

    sns_port = stack.sns_port()
    assert stack.stop() == 0
    assert not port_open(stack.port)
    assert sns_port is not None and not port_open(sns_port)


def test_the_scheduled_sweep_fails_a_dead_primary_over(stack):
    fleet = FleetServer()
    try:
        status, _, _ = stack.request(
            "POST",
            "/proxy/failover/config",
            {
                "proxyId": "swept",
                "config": {
                    "healthCheckIntervalSeconds": 2,
                    "healthCheckTimeoutSeconds": 1,
                    "unhealthyThreshold": 2,
                },
            },
            USER,
        )
        assert status == 201
        for name in ("primary", "backup"):
            status, body, _ = stack.request(
                "POST",
                "/proxy/instances",
                {
                    "proxyId": "swept",
                    "instanceData": {"instanceName": name, "healthCheckUrl": fleet.url(name)},
                },
                USER,
            )
            assert status == 201, body
        assert wait_for(lambda: fleet.hits["primary"] >= 1 and fleet.hits["backup"] >= 1, 30)
        fleet.modes["primary"] = "fail"
        failover = wait_for(
            lambda: [n for n in stack.notices() if n["type"] == "failover" and n["proxyId"] == "swept"], 40
        )
        assert failover, stack.log.read_text()[-3000:]
        status, body, _ = stack.request("GET", "/proxy/swept/failover/events", token=USER)
        assert any(e["eventType"] == "failover" and e["actor"] == "system" for e in body["data"])
        # as deployed: the dispatcher starts workers through the (local) work queue
        assert "dispatcher every 1 s, up to 4 workers" in stack.log.read_text()
    finally:
        fleet.close()


def test_embedded_database_when_no_database_url(tmp_path):
    """A fresh clone: no DATABASE_URL, so the stack starts its own PostgreSQL and serves within a minute."""
    started = time.monotonic()
    stack = start_stack(tmp_path, DATABASE_URL="", LOCAL_DATA_DIR=str(tmp_path / "data"))
    try:
        assert time.monotonic() - started < 60
        status, body, _ = stack.request("GET", "/openapi.json")
        assert status == 200 and body["openapi"].startswith("3.")
    finally:
        assert stack.stop() == 0
    data_dir = str(tmp_path / "data" / "pgdata")
    running = subprocess.run(["pgrep", "-f", data_dir], capture_output=True, text=True, check=False)
    assert running.stdout.strip() == "", "embedded PostgreSQL left running"
