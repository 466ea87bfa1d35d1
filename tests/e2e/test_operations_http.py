"""Operations (endpoints 13-17) over HTTP through the local stack: its gateway, its handlers, its
scheduled run and its SNS subscriber's file."""

from __future__ import annotations

from tests.e2e.running import start_stack
from tests.e2e.test_local_stack import wait_for
from tests.helpers import token

USER = token("ops-user")


def test_update_maintenance_route_and_deregistration_over_http(stack):
    def call(method, path, body=None, headers=None):
        return stack.request(method, path, body, USER, headers)

    assert (
        call("POST", "/proxy/failover/config", {"proxyId": "ops", "config": {"healthyThreshold": 1}})[0]
        == 201
    )
    ids = {}
    for priority, name in enumerate(("a", "b", "c")):
        status, body, _ = call(
            "POST",
            "/proxy/instances",
            {
                "proxyId": "ops",
                "instanceData": {
                    "instanceName": name,
                    "priority": priority,
                    "endpoint": f"10.0.3.{priority}:8443",
                },
            },
        )
        assert status == 201, body
        ids[name] = body["data"]["id"]
        assert call("PUT", f"/proxy/instances/{ids[name]}/health", {"healthStatus": "healthy"})[0] == 200

    # the routing answer, its ETag and a 304
    status, body, headers = call("GET", "/proxy/ops/route")
    assert status == 200 and body["data"]["endpoint"] == "10.0.3.0:8443", body
    tag = headers["ETag"]
    status, empty, _ = call("GET", "/proxy/ops/route", headers={"If-None-Match": tag})
    assert status == 304 and empty is None

    # PATCH changes only what it names
    status, body, _ = call("PATCH", f"/proxy/instances/{ids['a']}", {"endpoint": "10.0.9.9:8443"})
    assert status == 200 and body["data"]["endpoint"] == "10.0.9.9:8443" and body["data"]["priority"] == 0
    status, body, headers = call("GET", "/proxy/ops/route", headers={"If-None-Match": tag})
    assert status == 200 and headers["ETag"] != tag and body["data"]["endpoint"] == "10.0.9.9:8443"

    # maintenance of the active instance moves the proxy first, and tells the subscribers
    status, body, _ = call(
        "PUT", f"/proxy/instances/{ids['a']}/maintenance", {"durationSeconds": 600, "reason": "patching"}
    )
    assert status == 200 and body["data"]["maintenance"]["reason"] == "patching", body
    assert call("GET", "/proxy/ops/route")[1]["data"]["activeInstanceId"] == ids["b"]
    sent = wait_for(
        lambda: {n["type"] for n in stack.notices()} >= {"maintenance_started", "maintenance_failover"}
    )
    assert sent, stack.notices()
    status, body, _ = call("GET", "/proxy/ops/failover/events")
    assert [e["eventType"] for e in body["data"]] == ["maintenance"]
    status, body, _ = call("DELETE", f"/proxy/instances/{ids['a']}/maintenance")
    assert status == 200 and body["data"]["maintenance"] is None
    assert wait_for(lambda: any(n["type"] == "maintenance_ended" for n in stack.notices()))

    # deregistration: the active one only with force, which moves the proxy first
    status, body, _ = call("DELETE", f"/proxy/instances/{ids['b']}")
    assert status == 409 and body["error"]["code"] == "PROXY_FAILOVER_029"
    status, body, _ = call("DELETE", f"/proxy/instances/{ids['b']}?force=true")
    assert status == 200 and body["data"]["id"] == ids["b"]
    status, body, _ = call("GET", "/proxy/ops/instances")
    assert {i["instanceName"] for i in body["data"]} == {"a", "c"}


def test_a_retried_report_counts_once_over_http(stack):
    def call(method, path, body=None, headers=None):
        return stack.request(method, path, body, USER, headers)

    status, body, _ = call(
        "POST", "/proxy/instances", {"proxyId": "keyed", "instanceData": {"instanceName": "a"}}
    )
    assert status == 201, body
    instance = body["data"]["id"]
    key = {"Idempotency-Key": "0f9c-retry"}
    first = call("PUT", f"/proxy/instances/{instance}/health", {"healthStatus": "unhealthy"}, key)
    again = call("PUT", f"/proxy/instances/{instance}/health", {"healthStatus": "unhealthy"}, key)
    assert first[0] == again[0] == 200 and again[1] == first[1]
    assert first[1]["data"]["consecutiveFailures"] == 1


def test_an_instance_that_stops_reporting_is_noticed_by_the_scheduled_run(stack):
    """TTL 1 s, interval 1 s, threshold 2: noticed within about TTL + threshold x interval."""

    def call(method, path, body=None):
        return stack.request(method, path, body, USER)

    config = {"reportTtlSeconds": 1, "healthCheckIntervalSeconds": 1, "healthCheckTimeoutSeconds": 1}
    status, body, _ = call(
        "POST", "/proxy/failover/config", {"proxyId": "silent", "config": {**config, "unhealthyThreshold": 2}}
    )
    assert status == 201 and body["data"]["reportTtlSeconds"] == 1, body
    status, body, _ = call(
        "POST", "/proxy/instances", {"proxyId": "silent", "instanceData": {"instanceName": "nat"}}
    )
    instance = body["data"]["id"]
    call("PUT", f"/proxy/instances/{instance}/health", {"healthStatus": "healthy"})
    down = wait_for(
        lambda: [
            n for n in stack.notices() if n["type"] == "instance_unhealthy" and n["proxyId"] == "silent"
        ],
        20,
    )
    assert down and down[0]["reason"] == "report_ttl_expired", stack.log.read_text()[-3000:]


ADMIN = token("ops-admin", admin=True)


def test_a_drill_over_http_switches_back_when_its_time_is_up(stack):
    def call(method, path, body=None, tok=USER):
        return stack.request(method, path, body, tok)

    call("POST", "/proxy/failover/config", {"proxyId": "drilled", "config": {"healthyThreshold": 1}})
    ids = []
    for name in ("a", "b"):
        status, body, _ = call(
            "POST", "/proxy/instances", {"proxyId": "drilled", "instanceData": {"instanceName": name}}
        )
        ids.append(body["data"]["id"])
        call("PUT", f"/proxy/instances/{ids[-1]}/health", {"healthStatus": "healthy"})
    status, body, _ = call(
        "POST",
        "/proxy/failover/drill",
        {"proxyId": "drilled", "durationSeconds": 10, "reason": "e2e drill"},
        ADMIN,
    )
    assert status == 202 and body["data"]["eventType"] == "drill", body
    event = body["data"]["id"]
    assert call("GET", "/proxy/drilled/route")[1]["data"]["activeInstanceId"] == ids[1]
    # the scheduled run (every second here) switches back once the 10 s are up
    back = wait_for(lambda: call("GET", "/proxy/drilled/route")[1]["data"]["activeInstanceId"] == ids[0], 30)
    assert back, stack.log.read_text()[-3000:]
    status, body, _ = call("GET", "/proxy/drilled/failover/events")
    returned, done = body["data"]  # the switch back has its own event, newest first
    assert (returned["eventType"], returned["targetInstanceId"]) == ("failback", ids[0])
    assert (done["id"], done["status"]) == (event, "completed")

    def drill_notices():
        found = [n for n in stack.notices() if n.get("proxyId") == "drilled" and n.get("drill")]
        return found if len(found) >= 2 else None

    sent = wait_for(drill_notices)
    assert sent and {n["type"] for n in sent} == {"failover", "failback"}
    assert all(n["attributes"]["drill"] == "true" and n["correlationId"] == event for n in sent)


def test_a_storm_over_http_pages_once(migrated, tmp_path):
    """Five proxies of one owner fail over within a minute, the threshold 2: one fleet_incident."""
    stack = start_stack(tmp_path, DATABASE_URL=migrated, NOTIFY_STORM_THRESHOLD="2", SCHEDULE_SECONDS="0")
    owner = token("storm-owner")  # an owner of its own: storms count an owner's pages of the last minute
    try:

        def call(method, path, body=None):
            return stack.request(method, path, body, owner)

        primaries = []
        for k in range(5):
            proxy = f"stormy-{k}"
            call("POST", "/proxy/failover/config", {"proxyId": proxy, "config": {"unhealthyThreshold": 1}})
            for name in ("a", "b"):
                _, body, _ = call(
                    "POST", "/proxy/instances", {"proxyId": proxy, "instanceData": {"instanceName": name}}
                )
                call("PUT", f"/proxy/instances/{body['data']['id']}/health", {"healthStatus": "healthy"})
                if name == "a":
                    primaries.append(body["data"]["id"])
        for instance in primaries:
            assert call("PUT", f"/proxy/instances/{instance}/health", {"healthStatus": "unhealthy"})[0] == 200

        def storm():
            found = [n for n in stack.notices() if n["type"] in {"failover", "fleet_incident"}]
            return found if len(found) >= 6 else None

        sent = wait_for(storm)
        assert sent, stack.notices()
        (fleet,) = [n for n in sent if n["type"] == "fleet_incident"]
        assert fleet["count"] == 3 and fleet["attributes"]["severity"] == "critical"
        severities = [n["attributes"]["severity"] for n in sent if n["type"] == "failover"]
        assert severities == ["critical", "critical", "warning", "warning", "warning"]
    finally:
        assert stack.stop() == 0
