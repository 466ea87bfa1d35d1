"""Operations (endpoints 13-17) through the real handlers on real PostgreSQL, notifications through
moto SNS into SQS: instance updates, deregistration, maintenance, the routing answer, the report
time-to-live, idempotent reports and probe options."""

from __future__ import annotations

import json
from typing import Any

import pytest
from proxy_failover.settings import reset_settings
from proxy_failover.sweep import Sweeper

from tests.helpers import drain, function, http_event, token
from tests.integration.test_api_flow import register, report
from tests.integration.test_sweep import due_now, settings
from tests.servers import FleetServer

USER = token("user-a")
OTHER = token("user-b")
ADMIN = token("ops", admin=True)


def call(name: str, method: str, path: str, tok: str = USER, **extra: Any) -> tuple[int, Any, dict]:
    """(status, parsed body or None when empty, headers)."""
    response = function(name).handler(http_event(method, path, token_value=tok, **extra), None)
    body = json.loads(response["body"]) if response["body"] else None
    return response["statusCode"], body, response.get("headers", {})


def patch(instance_id: str, body: dict, tok: str = USER) -> tuple[int, Any]:
    code, data, _ = call("update_instance", "PATCH", f"/proxy/instances/{instance_id}", tok, body=body)
    return code, data


def deregister(instance_id: str, force: bool | None = None, tok: str = USER) -> tuple[int, Any]:
    query = None if force is None else {"force": str(force).lower()}
    code, data, _ = call("deregister_instance", "DELETE", f"/proxy/instances/{instance_id}", tok, query=query)
    return code, data


def maintain(instance_id: str, seconds: int = 3600, reason: str = "kernel patch", **more: Any):
    body = {"durationSeconds": seconds, "reason": reason, **more}
    code, data, _ = call("start_maintenance", "PUT", f"/proxy/instances/{instance_id}/maintenance", body=body)
    return code, data


def end_maintenance(instance_id: str) -> tuple[int, Any]:
    code, data, _ = call("end_maintenance", "DELETE", f"/proxy/instances/{instance_id}/maintenance")
    return code, data


def route(proxy_id: str, tok: str = USER, etag: str | None = None) -> tuple[int, Any, dict]:
    headers = None if etag is None else {"if-none-match": etag}
    return call("get_route", "GET", f"/proxy/{proxy_id}/route", tok, headers=headers)


def redundancy(proxy_id: str) -> dict:
    code, data, _ = call("get_redundancy", "GET", f"/proxy/{proxy_id}/redundancy")
    assert code == 200, data
    return data["data"]


def instances(proxy_id: str) -> dict[str, dict]:
    code, data, _ = call("list_instances", "GET", f"/proxy/{proxy_id}/instances")
    assert code == 200, data
    return {i["instanceName"]: i for i in data["data"]}


def events(proxy_id: str) -> list[dict]:
    code, data, _ = call("list_events", "GET", f"/proxy/{proxy_id}/failover/events")
    assert code == 200, data
    return data["data"]


def config(proxy_id: str, **fields: Any) -> dict:
    code, data, _ = call(
        "create_config", "POST", "/proxy/failover/config", body={"proxyId": proxy_id, "config": fields}
    )
    assert code in (200, 201), data
    return data["data"]


def healthy_fleet(proxy_id: str, *names: str) -> dict[str, dict]:
    """Instances by name, priority in the order given, each reported healthy (healthyThreshold 1)."""
    config(proxy_id, healthyThreshold=1, unhealthyThreshold=1)
    found = {}
    for priority, name in enumerate(names):
        found[name] = register(proxy_id, name, priority)
        report(found[name]["id"], "healthy")
    return found


def types(messages: list[dict]) -> list[str]:
    return [m["type"] for m in messages]


# -- PATCH /proxy/instances/{instanceId} --------------------------------------------------------------


def test_an_update_changes_only_the_fields_given(db):
    healthy_fleet("up-1", "a", "b")
    a = instances("up-1")["a"]
    code, body = patch(a["id"], {"weight": 7, "endpoint": "10.0.3.7:8443"})
    assert code == 200, body
    changed = body["data"]
    assert changed["weight"] == 7 and changed["endpoint"] == "10.0.3.7:8443"
    unchanged = {
        k: v for k, v in a.items() if k not in {"weight", "endpoint", "updatedAt", "lastHealthCheck"}
    }
    assert {k: changed[k] for k in unchanged} == unchanged
    assert instances("up-1")["a"]["weight"] == 7  # stored


def test_null_clears_the_health_check_url_endpoint_and_probe(db):
    a = register("up-2", "a", healthCheckUrl="https://edge.example.com/health", endpoint="10.0.0.1:443")
    code, body = patch(a["id"], {"probe": {"expectedStatus": "200-299,304", "bodyContains": "ok"}})
    assert code == 200 and body["data"]["probe"] == {
        "expectedStatus": "200-299,304",
        "bodyContains": "ok",
        "tlsVerify": True,
    }
    code, body = patch(a["id"], {"healthCheckUrl": None, "endpoint": None, "probe": None})
    assert code == 200, body
    assert body["data"]["healthCheckUrl"] is None and body["data"]["endpoint"] is None
    assert body["data"]["probe"] is None


def test_a_name_another_instance_of_the_proxy_has_is_a_409(db):
    a, _b = register("up-3", "a"), register("up-3", "b")
    code, body = patch(a["id"], {"instanceName": " b "})
    assert code == 409 and body["error"]["code"] == "PROXY_FAILOVER_005"
    assert patch(a["id"], {"instanceName": "a"})[0] == 200  # its own name again is no conflict


def test_a_new_health_check_url_goes_through_the_registration_checks(db):
    a = register("up-4", "a")
    code, body = patch(a["id"], {"healthCheckUrl": "http://169.254.169.254/latest/meta-data/"})
    assert code == 400 and body["error"]["code"] == "PROXY_FAILOVER_002"
    assert instances("up-4")["a"]["healthCheckUrl"] is None  # nothing written


@pytest.mark.parametrize(
    "body",
    [{}, {"weight": -1}, {"instanceName": ""}, {"probe": {"expectedStatus": "299-200"}}, {"nope": 1}],
)
def test_a_bad_update_is_a_400(db, body):
    a = register("up-5", "a")
    code, data = patch(a["id"], body)
    assert code == 400 and data["error"]["code"] == "PROXY_FAILOVER_001", data


def test_another_owners_or_an_unknown_instance_is_a_404(db):
    a = register("up-6", "a")
    assert patch(a["id"], {"weight": 1}, tok=OTHER)[1]["error"]["code"] == "PROXY_FAILOVER_007"
    code, body = patch("00000000-0000-4000-8000-000000000000", {"weight": 1})
    assert code == 404 and body["error"]["code"] == "PROXY_FAILOVER_007"
    assert patch(a["id"], {"weight": 1}, tok=ADMIN)[0] == 200  # an admin sees every tenant


# -- DELETE /proxy/instances/{instanceId} -------------------------------------------------------------


def test_a_backup_is_deregistered_and_its_past_events_keep_their_rows(db):
    fleet = healthy_fleet("dr-1", "a", "b", "c")
    a, b = fleet["a"], fleet["b"]
    code, body, _ = call(
        "execute_failover",
        "POST",
        "/proxy/failover/execute",
        ADMIN,
        body={"proxyId": "dr-1", "sourceInstanceId": a["id"], "targetInstanceId": b["id"], "reason": "drill"},
    )
    assert code == 200, body
    code, body = deregister(a["id"])
    assert code == 200 and body["data"]["id"] == a["id"] and body["data"]["isActive"] is False
    assert set(instances("dr-1")) == {"b", "c"}
    (event,) = events("dr-1")
    assert event["sourceInstanceId"] == a["id"]  # the removed instance's id stays in the ledger
    assert a["id"] not in redundancy("dr-1")["backupInstanceIds"]
    assert deregister(a["id"])[0] == 404  # gone


def test_the_active_instance_is_refused_without_force(db):
    fleet = healthy_fleet("dr-2", "a", "b")
    code, body = deregister(fleet["a"]["id"])
    assert code == 409 and body["error"]["code"] == "PROXY_FAILOVER_029"
    assert set(instances("dr-2")) == {"a", "b"}


def test_force_moves_the_proxy_to_the_best_healthy_other_first(db, sns):
    fleet = healthy_fleet("dr-3", "a", "b", "c")
    drain(sns)
    code, body = deregister(fleet["a"]["id"], force=True)
    assert code == 200 and body["data"]["isActive"] is True  # as it was when removed
    posture = redundancy("dr-3")
    assert posture["activeInstanceId"] == fleet["b"]["id"] and not posture["isDegraded"]
    (event,) = events("dr-3")
    assert (event["eventType"], event["reason"], event["status"]) == ("manual", "deregistered", "completed")
    assert (event["sourceInstanceId"], event["targetInstanceId"]) == (fleet["a"]["id"], fleet["b"]["id"])
    (moved,) = [m for m in drain(sns) if m["type"] == "manual_failover"]
    assert moved["sourceInstanceName"] == "a" and moved["reason"] == "deregistered"


def test_force_with_no_healthy_other_moves_to_another_and_the_proxy_is_degraded(db):
    config("dr-4", healthyThreshold=1, unhealthyThreshold=1)
    a, b = register("dr-4", "a", 0), register("dr-4", "b", 1)
    report(a["id"], "healthy")
    report(b["id"], "unhealthy")
    assert deregister(a["id"], force=True)[0] == 200
    posture = redundancy("dr-4")
    assert posture["activeInstanceId"] == b["id"] and posture["isDegraded"]
    assert "active_unhealthy" in posture["degradedReasons"]


def test_the_last_instance_may_go_and_the_proxy_then_has_no_active_instance(db):
    a = register("dr-5", "a")
    code, body = deregister(a["id"])  # no others: no force needed
    assert code == 200 and body["data"]["isActive"] is True
    assert instances("dr-5") == {}
    posture = redundancy("dr-5")
    assert posture["activeInstanceId"] is None and posture["totalInstances"] == 0
    code, body, _ = route("dr-5")
    assert code == 404 and body["error"]["code"] == "PROXY_FAILOVER_004"
    again = register("dr-5", "b")  # the proxy takes instances again, the new one active
    assert again["isActive"]


def test_deregistration_closes_an_open_recovery_cycle(db):
    config("dr-6", healthyThreshold=1, unhealthyThreshold=1)
    a, b = register("dr-6", "a", 0), register("dr-6", "b", 1)
    report(a["id"], "healthy")
    report(b["id"], "unhealthy")  # a backup down: a recovery cycle opens
    assert [e["eventType"] for e in events("dr-6")] == ["recovery"]
    assert deregister(b["id"])[0] == 200
    (closed,) = events("dr-6")
    assert closed["status"] == "failed" and closed["errorMessage"] == "instance deregistered"


# -- PUT / DELETE /proxy/instances/{instanceId}/maintenance -------------------------------------------


def test_a_backup_in_maintenance_is_no_backup_no_degradation_and_sends_no_alerts(db, sns):
    fleet = healthy_fleet("mt-1", "a", "b", "c")
    drain(sns)
    code, body = maintain(fleet["b"]["id"], 600, " patching ")
    assert code == 200, body
    window = body["data"]["maintenance"]
    assert window["reason"] == "patching" and window["startedBy"] == "user-a" and window["until"]
    posture = redundancy("mt-1")
    assert posture["backupInstanceIds"] == [fleet["c"]["id"]] and not posture["isDegraded"]
    (started,) = drain(sns)
    assert started["type"] == "maintenance_started" and started["attributes"]["severity"] == "info"
    assert started["instanceId"] == fleet["b"]["id"] and started["reason"] == "patching"
    # its failures are recorded without notifications and open no recovery
    for _ in range(3):
        report(fleet["b"]["id"], "unhealthy")
    assert instances("mt-1")["b"]["healthStatus"] == "unhealthy"
    assert drain(sns) == [] and events("mt-1") == []
    assert not redundancy("mt-1")["isDegraded"]


def test_an_instance_in_maintenance_is_never_a_failover_target(db):
    fleet = healthy_fleet("mt-2", "a", "b", "c")
    maintain(fleet["b"]["id"])
    report(fleet["a"]["id"], "unhealthy")  # the active dies: over to c, not to b
    assert redundancy("mt-2")["activeInstanceId"] == fleet["c"]["id"]


def test_the_active_instance_is_left_for_the_best_healthy_other_first(db, sns):
    fleet = healthy_fleet("mt-3", "a", "b")
    drain(sns)
    code, body = maintain(fleet["a"]["id"], reason="disk swap")
    assert code == 200 and body["data"]["isActive"] is False
    assert redundancy("mt-3")["activeInstanceId"] == fleet["b"]["id"]
    (event,) = events("mt-3")
    assert event["eventType"] == "maintenance" and event["status"] == "completed"
    assert event["reason"] == "maintenance: disk swap"
    sent = drain(sns)
    assert sorted(types(sent)) == ["maintenance_failover", "maintenance_started"]
    assert {m["attributes"]["severity"] for m in sent} == {"info"}  # planned: nobody is paged


def test_the_active_with_no_healthy_other_is_a_409_unless_forced(db, sns):
    config("mt-4", healthyThreshold=1, unhealthyThreshold=1)
    a, b = register("mt-4", "a", 0), register("mt-4", "b", 1)
    report(a["id"], "healthy")
    report(b["id"], "unhealthy")
    code, body = maintain(a["id"])
    assert code == 409 and body["error"]["code"] == "PROXY_FAILOVER_030"
    assert instances("mt-4")["a"]["maintenance"] is None  # nothing written
    code, body = maintain(a["id"], force=True)
    assert code == 200 and body["data"]["isActive"] is True and body["data"]["maintenance"]
    posture = redundancy("mt-4")
    assert posture["isDegraded"] and "active_in_maintenance" in posture["degradedReasons"]


def test_a_second_put_replaces_until_and_reason(db, sns):
    fleet = healthy_fleet("mt-5", "a", "b")
    first = maintain(fleet["b"]["id"], 600, "one")[1]["data"]["maintenance"]
    second = maintain(fleet["b"]["id"], 7200, "two")[1]["data"]["maintenance"]
    assert second["reason"] == "two" and second["until"] > first["until"]
    assert types(drain(sns)).count("maintenance_started") == 1  # still the same maintenance


def test_ending_maintenance_makes_the_instance_a_backup_again(db, sns):
    fleet = healthy_fleet("mt-6", "a", "b")
    maintain(fleet["b"]["id"])
    drain(sns)
    code, body = end_maintenance(fleet["b"]["id"])
    assert code == 200 and body["data"]["maintenance"] is None
    assert redundancy("mt-6")["backupInstanceIds"] == [fleet["b"]["id"]]
    assert types(drain(sns)) == ["maintenance_ended"]
    assert end_maintenance(fleet["b"]["id"])[0] == 200  # ending it again changes nothing
    assert drain(sns) == []


def test_the_scheduled_run_ends_maintenance_whose_time_is_up(db, sns):
    fleet = healthy_fleet("mt-7", "a", "b")
    maintain(fleet["b"]["id"])
    drain(sns)
    db.autocommit().run(
        "UPDATE proxy_instances SET maintenance_until = now() - interval '1 second'"
        " WHERE maintenance_until IS NOT NULL"
    )
    due_now(db)
    Sweeper(db, settings=settings()).run_once()
    assert instances("mt-7")["b"]["maintenance"] is None
    (ended,) = drain(sns)
    assert ended["type"] == "maintenance_ended" and ended["instanceId"] == fleet["b"]["id"]


def test_a_patch_ends_maintenance_whose_time_is_up_rather_than_writing_it_back(db, sns):
    # Given a backup whose maintenance ran out, with no scheduled run since
    fleet = healthy_fleet("mt-7b", "a", "b")
    maintain(fleet["b"]["id"])
    db.autocommit().run(
        "UPDATE proxy_instances SET maintenance_until = now() - interval '1 second'"
        " WHERE maintenance_until IS NOT NULL"
    )
    drain(sns)
    # When its owner changes something else of it
    code, body = patch(fleet["b"]["id"], {"weight": 7})
    # Then the maintenance is over, in the answer and in the store, and the instance is a backup again
    assert code == 200 and body["data"]["maintenance"] is None and body["data"]["weight"] == 7
    assert instances("mt-7b")["b"]["maintenance"] is None
    assert redundancy("mt-7b")["backupInstanceIds"] == [fleet["b"]["id"]]
    assert types(drain(sns)) == ["maintenance_ended"]


@pytest.mark.parametrize(
    "body",
    [
        {"durationSeconds": 59, "reason": "x"},
        {"durationSeconds": 604801, "reason": "x"},
        {"durationSeconds": 600, "reason": ""},
        {"durationSeconds": 600, "reason": "x" * 501},
        {"durationSeconds": 600},
    ],
)
def test_bad_maintenance_is_a_400(db, body):
    a = register("mt-8", "a")
    code, data, _ = call("start_maintenance", "PUT", f"/proxy/instances/{a['id']}/maintenance", body=body)
    assert code == 400 and data["error"]["code"] == "PROXY_FAILOVER_001", data


def test_maintenance_of_another_owners_instance_is_a_404(db):
    a = register("mt-9", "a")
    code, data, _ = call(
        "start_maintenance",
        "PUT",
        f"/proxy/instances/{a['id']}/maintenance",
        OTHER,
        body={"durationSeconds": 600, "reason": "x"},
    )
    assert code == 404 and data["error"]["code"] == "PROXY_FAILOVER_007"
    code, data, _ = call("end_maintenance", "DELETE", f"/proxy/instances/{a['id']}/maintenance", OTHER)
    assert code == 404


# -- GET /proxy/{proxyId}/route -----------------------------------------------------------------------


def test_without_load_balancing_the_answer_is_the_active_instance_alone(db):
    a = register("rt-1", "a", 0, endpoint="10.0.3.7:8443")
    register("rt-1", "b", 1, endpoint="10.0.3.8:8443")
    code, body, headers = route("rt-1")
    assert code == 200, body
    assert body["data"] == {
        "proxyId": "rt-1",
        "activeInstanceId": a["id"],
        "endpoint": "10.0.3.7:8443",
        "algorithm": None,
        "targets": [{"instanceId": a["id"], "endpoint": "10.0.3.7:8443", "share": 1, "ramp": None}],
        "degraded": True,  # nothing is known healthy yet
        "version": 1,  # the first registration's answer; b's left it as it was
    }
    assert headers["ETag"].startswith('"')


@pytest.mark.parametrize(
    ("algorithm", "shares"),
    [
        ("weighted", {"a": 0.25, "b": 0.75}),
        ("round_robin", {"a": 0.5, "b": 0.5}),
        ("least_connections", {"a": 10 / 11, "b": 1 / 11}),
    ],
)
def test_with_load_balancing_the_healthy_instances_share_by_the_algorithm(db, algorithm, shares):
    config("rt-2", healthyThreshold=1, enableLoadBalancing=True, loadBalancingAlgorithm=algorithm)
    a = register("rt-2", "a", 0, weight=1, endpoint="a:1")
    b = register("rt-2", "b", 1, weight=3, endpoint="b:1")
    c = register("rt-2", "c", 2, weight=9, endpoint="c:1")
    report(a["id"], "healthy", metrics={"connectionCount": 0})
    report(b["id"], "healthy", metrics={"connectionCount": 9})
    report(c["id"], "unhealthy")  # not healthy: no share
    body = route("rt-2")[1]["data"]
    assert body["algorithm"] == algorithm and body["activeInstanceId"] == a["id"]
    found = {t["endpoint"][0]: t["share"] for t in body["targets"]}
    assert found == pytest.approx(shares, abs=1e-6)
    assert sum(found.values()) == pytest.approx(1.0, abs=1e-9)


def test_instances_in_maintenance_or_flapping_take_no_share(db):
    config("rt-3", healthyThreshold=1, enableLoadBalancing=True, loadBalancingAlgorithm="round_robin")
    fleet = {n: register("rt-3", n, k) for k, n in enumerate("abc")}
    for i in fleet.values():
        report(i["id"], "healthy")
    maintain(fleet["b"]["id"])
    config("rt-3", flapThreshold=2, unhealthyThreshold=1)
    for status in ("unhealthy", "healthy"):  # two changes within the window: c is flapping
        report(fleet["c"]["id"], status)
    body = route("rt-3")[1]["data"]
    assert [t["instanceId"] for t in body["targets"]] == [fleet["a"]["id"]]


def test_with_nobody_healthy_the_active_takes_everything(db):
    config("rt-4", enableLoadBalancing=True)
    a = register("rt-4", "a", 0)
    register("rt-4", "b", 1)
    body = route("rt-4")[1]["data"]
    assert body["algorithm"] == "round_robin"  # the config's default
    assert body["targets"] == [{"instanceId": a["id"], "endpoint": None, "share": 1, "ramp": None}]


def test_a_matching_if_none_match_gets_304_and_the_tag_follows_the_answer(db):
    config("rt-5", healthyThreshold=1)
    a, b = register("rt-5", "a", 0), register("rt-5", "b", 1)
    report(a["id"], "healthy")
    report(b["id"], "healthy")
    code, _, headers = route("rt-5")
    assert code == 200
    tag = headers["ETag"]
    code, empty, headers = route("rt-5", etag=tag)
    assert code == 304 and empty is None and headers["ETag"] == tag
    assert route("rt-5", etag=f'W/{tag}, "other"')[0] == 304  # a list, weak or not, names it too
    assert route("rt-5", etag="*")[0] == 304
    assert route("rt-5", etag='"something-else"')[0] == 200
    assert route("rt-5")[2]["ETag"] == tag  # the same answer, the same tag
    report(a["id"], "unhealthy")
    report(a["id"], "unhealthy")
    report(a["id"], "unhealthy")  # the proxy fails over to b
    code, moved, headers = route("rt-5", etag=tag)
    assert code == 200 and moved["data"]["activeInstanceId"] == b["id"] and headers["ETag"] != tag


def test_an_unknown_or_foreign_proxy_is_a_404(db):
    register("rt-6", "a")
    assert route("rt-6", tok=OTHER)[1]["error"]["code"] == "PROXY_FAILOVER_004"
    assert route("nobody")[1]["error"]["code"] == "PROXY_FAILOVER_004"
    assert route("rt-6", tok=ADMIN)[0] == 200


def test_the_route_is_answered_in_one_round_trip(db):
    config("rt-7", enableLoadBalancing=True, healthyThreshold=1)
    for k, n in enumerate("abc"):
        report(register("rt-7", n, k)["id"], "healthy")
    route("rt-7")  # prepares the statement
    con = db.connection()
    before = con.round_trips
    assert route("rt-7")[0] == 200
    assert con.round_trips - before == 1


# -- reportTtlSeconds -----------------------------------------------------------------------------------


def test_an_instance_that_stops_reporting_is_noticed_after_ttl_plus_threshold(db, sns):
    cfg = config("ttl-1", reportTtlSeconds=60, unhealthyThreshold=2, healthyThreshold=1)
    assert cfg["reportTtlSeconds"] == 60
    a, b = register("ttl-1", "a", 0), register("ttl-1", "b", 1)
    report(a["id"], "healthy")
    report(b["id"], "healthy")
    drain(sns)

    def sweep_after(seconds_silent: int) -> None:
        db.autocommit().run(
            "UPDATE proxy_instances SET last_result_at = now() - make_interval(secs => :s)"
            " WHERE instance_name = 'a'",
            s=seconds_silent,
        )
        db.autocommit().run("UPDATE proxy_instances SET last_result_at = now() WHERE instance_name = 'b'")
        due_now(db)
        Sweeper(db, settings=settings()).run_once()

    sweep_after(30)  # within the TTL: nothing
    assert instances("ttl-1")["a"]["consecutiveFailures"] == 0
    sweep_after(61)  # one failed check
    assert instances("ttl-1")["a"]["healthStatus"] == "healthy"
    sweep_after(91)  # the second: down, and the proxy fails over
    assert instances("ttl-1")["a"]["healthStatus"] == "unhealthy"
    assert redundancy("ttl-1")["activeInstanceId"] == b["id"]
    (down,) = [m for m in drain(sns) if m["type"] == "instance_unhealthy"]
    assert down["reason"] == "report_ttl_expired"
    # a fresh report is a sign of life again
    report(a["id"], "healthy")
    assert instances("ttl-1")["a"]["healthStatus"] == "healthy"


def test_a_null_ttl_turns_it_off(db):
    assert config("ttl-2", reportTtlSeconds=60)["reportTtlSeconds"] == 60
    assert config("ttl-2", unhealthyThreshold=2)["reportTtlSeconds"] == 60  # absent: kept
    assert config("ttl-2", reportTtlSeconds=None)["reportTtlSeconds"] is None
    register("ttl-2", "a")
    db.autocommit().run("UPDATE proxy_instances SET last_result_at = now() - interval '1 day'")
    due_now(db)
    Sweeper(db, settings=settings()).run_once()
    assert instances("ttl-2")["a"]["consecutiveFailures"] == 0


def test_probed_instances_are_judged_by_their_probe_not_the_ttl(db, monkeypatch):
    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    server = FleetServer()
    try:
        config("ttl-3", reportTtlSeconds=1, healthCheckIntervalSeconds=10, healthCheckTimeoutSeconds=1)
        register("ttl-3", "a", healthCheckUrl=server.url("a"))
        due_now(db)
        Sweeper(db, settings=settings()).run_once()
    finally:
        server.close()
    assert instances("ttl-3")["a"]["consecutiveSuccesses"] == 1


# -- Idempotency-Key -------------------------------------------------------------------------------------


def keyed_report(instance_id: str, status: str, key: str) -> tuple[int, Any]:
    code, data, _ = call(
        "report_health",
        "PUT",
        f"/proxy/instances/{instance_id}/health",
        body={"healthStatus": status},
        headers={"idempotency-key": key},
    )
    return code, data


def test_a_retried_report_counts_once_and_gets_the_first_answer(db):
    config("id-1", unhealthyThreshold=3)
    a = register("id-1", "a")
    code, first = keyed_report(a["id"], "unhealthy", "retry-1")
    assert code == 200 and first["data"]["consecutiveFailures"] == 1
    code, again = keyed_report(a["id"], "unhealthy", "retry-1")
    assert code == 200 and again["data"] == first["data"]
    assert instances("id-1")["a"]["consecutiveFailures"] == 1
    assert keyed_report(a["id"], "unhealthy", "retry-2")[1]["data"]["consecutiveFailures"] == 2


def test_a_key_is_per_instance_and_lasts_ten_minutes(db):
    config("id-2", unhealthyThreshold=5)
    a, b = register("id-2", "a"), register("id-2", "b")
    keyed_report(a["id"], "unhealthy", "k")
    assert keyed_report(b["id"], "unhealthy", "k")[1]["data"]["consecutiveFailures"] == 1  # another instance
    db.autocommit().run("UPDATE report_keys SET created_at = now() - interval '11 minutes'")
    assert keyed_report(a["id"], "unhealthy", "k")[1]["data"]["consecutiveFailures"] == 2  # expired: counts


@pytest.mark.parametrize("key", ["", "x" * 129, "has space", "ünicode"])
def test_a_bad_idempotency_key_is_a_400(db, key):
    a = register("id-3", "a")
    code, data = keyed_report(a["id"], "healthy", key)
    assert code == 400 and data["error"]["code"] == "PROXY_FAILOVER_001"
    assert instances("id-3")["a"]["consecutiveSuccesses"] == 0


# -- probe options and endpoint at registration -------------------------------------------------------------


def test_registration_accepts_an_endpoint_and_probe_options_and_the_sweep_honours_them(db, monkeypatch):
    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    server = FleetServer()
    server.answers.update(
        {"ready": (200, b'{"status":"ready"}', False), "starting": (200, b'{"status":"starting"}', False)}
    )
    try:
        config("po-1", healthyThreshold=1, unhealthyThreshold=1)
        probe = {"bodyContains": '"ready"'}
        ready = register("po-1", "ready", 0, healthCheckUrl=server.url("ready"), probe=probe, endpoint="r:1")
        register("po-1", "starting", 1, healthCheckUrl=server.url("starting"), probe=probe)
        assert ready["endpoint"] == "r:1"
        assert ready["probe"] == {"expectedStatus": "200-399", "bodyContains": '"ready"', "tlsVerify": True}
        due_now(db)
        Sweeper(db, settings=settings()).run_once()
    finally:
        server.close()
    found = instances("po-1")
    assert found["ready"]["healthStatus"] == "healthy" and found["starting"]["healthStatus"] == "unhealthy"
