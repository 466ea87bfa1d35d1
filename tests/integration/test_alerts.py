"""Alerts people can act on and an audit trail, through the real handlers on real PostgreSQL, every
notification read back from an SQS queue subscribed to the topic through moto: incidents, storms,
config history, dry runs and drills."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from proxy_failover.domain.notices import NoticeType
from proxy_failover.settings import reset_settings
from proxy_failover.sweep import Sweeper

from tests.helpers import closing_thread, drain, token
from tests.integration.test_api_flow import register, report
from tests.integration.test_operations import call, config, events, instances, maintain, redundancy
from tests.integration.test_sweep import due_now, settings

USER = token("user-a")
OTHER = token("user-b")
ADMIN = token("ops", admin=True)


def pair(proxy_id: str, **fields: Any) -> tuple[dict, dict]:
    """A primary and a backup, both healthy; thresholds of 1 so one report decides."""
    config(proxy_id, unhealthyThreshold=1, healthyThreshold=1, failbackHoldDownSeconds=0, **fields)
    a, b = register(proxy_id, "a", 0), register(proxy_id, "b", 1)
    report(a["id"], "healthy")
    report(b["id"], "healthy")
    return a, b


def drill(body: dict, tok: str = ADMIN) -> tuple[int, Any]:
    code, data, _ = call("start_drill", "POST", "/proxy/failover/drill", tok, body=body)
    return code, data


def execute(body: dict, tok: str = ADMIN) -> tuple[int, Any]:
    code, data, _ = call("execute_failover", "POST", "/proxy/failover/execute", tok, body=body)
    return code, data


def sweep_now(db, **overrides: object) -> None:
    due_now(db)
    Sweeper(db, settings=settings(**overrides)).run_once()


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind]


# -- incidents ------------------------------------------------------------------------------------------


def test_an_incident_ties_the_failover_the_recovery_notices_the_return_and_the_failback(db, sns):
    a, _b = pair("inc-1")
    drain(sns)
    report(a["id"], "unhealthy")  # the active turns unhealthy: an incident opens, the proxy fails over
    report(a["id"], "healthy")  # it returns; healthy threshold 1, hold-down 0: the failback follows
    sent = drain(sns)
    assert all(m["correlationId"] for m in sent)
    kinds = ("instance_unhealthy", "failover", "recovery_needed", "instance_healthy", "failback")
    incident = {m["correlationId"] for m in sent if m["type"] in kinds}
    assert len(incident) == 1, [(m["type"], m["correlationId"]) for m in sent]
    assert {m["type"] for m in sent} >= set(kinds)
    # a later outage is another incident
    report(a["id"], "unhealthy")
    (second,) = of_type(drain(sns), "failover")
    assert second["correlationId"] not in incident


def test_a_notification_outside_any_incident_carries_its_own_id(db, sns):
    a, _b = pair("inc-2")
    drain(sns)
    maintain(a["id"])
    sent = drain(sns)
    assert sent and all(m["correlationId"] == m["id"] for m in sent if m["type"] == "maintenance_started")


# -- storms ----------------------------------------------------------------------------------------------


@pytest.fixture
def storm_threshold(monkeypatch):
    monkeypatch.setenv("NOTIFY_STORM_THRESHOLD", "3")
    reset_settings()
    yield 3
    reset_settings()


def test_a_storm_pages_once_and_its_failovers_go_out_as_warning(db, sns, storm_threshold):
    primaries = [pair(f"storm-{k}")[0] for k in range(6)]
    drain(sns)
    for a in primaries:
        report(a["id"], "unhealthy")
    sent = drain(sns)
    failovers = of_type(sent, "failover")
    assert [m["severity"] for m in failovers] == ["critical"] * 3 + ["warning"] * 3
    assert [m["attributes"]["severity"] for m in failovers] == ["critical"] * 3 + ["warning"] * 3
    (fleet,) = of_type(sent, "fleet_incident")
    assert fleet["severity"] == "critical" and fleet["count"] == 4 and fleet["userId"] == "user-a"
    assert fleet["proxyIds"] == ["storm-3", "storm-2", "storm-1", "storm-0"]
    assert fleet["attributes"] == {"type": "fleet_incident", "severity": "critical", "drill": "false"}
    assert fleet["proxyId"] is None
    assert {m.get("fleetIncidentId") for m in failovers[3:]} == {fleet["correlationId"]}
    # a pager on critical: the three proxies before the storm page (their instance and their
    # failover), then the storm pages once: nothing else of it is critical
    opened = sent.index(fleet)
    assert [m["type"] for m in sent[opened:] if m["attributes"]["severity"] == "critical"] == [
        "fleet_incident"
    ]
    assert {m["severity"] for m in of_type(sent[opened:], "instance_unhealthy")} == {"warning"}


def test_a_storm_is_per_owner(db, sns, storm_threshold):
    mine = [pair(f"own-{k}")[0] for k in range(3)]
    theirs = []
    for k in range(3):
        code, data, _ = call(
            "create_config",
            "POST",
            "/proxy/failover/config",
            OTHER,
            body={"proxyId": f"their-{k}", "config": {"unhealthyThreshold": 1, "healthyThreshold": 1}},
        )
        assert code == 201, data
        ids = []
        for name in ("a", "b"):
            code, data, _ = call(
                "register_instance",
                "POST",
                "/proxy/instances",
                OTHER,
                body={"proxyId": f"their-{k}", "instanceData": {"instanceName": name}},
            )
            ids.append(data["data"]["id"])
        for i in ids:
            call(
                "report_health",
                "PUT",
                f"/proxy/instances/{i}/health",
                OTHER,
                body={"healthStatus": "healthy"},
            )
        theirs.append(ids[0])
    drain(sns)
    for a in mine:
        report(a["id"], "unhealthy")
    for i in theirs:
        call(
            "report_health", "PUT", f"/proxy/instances/{i}/health", OTHER, body={"healthStatus": "unhealthy"}
        )
    sent = drain(sns)
    assert of_type(sent, "fleet_incident") == []  # three each: at the threshold, not past it
    assert {m["severity"] for m in of_type(sent, "failover")} == {"critical"}


def test_concurrent_failovers_of_one_owner_count_each_other(db, sns, storm_threshold):
    primaries = [pair(f"race-{k}")[0] for k in range(12)]
    drain(sns)
    barrier = threading.Barrier(len(primaries))

    def fail(instance_id: str) -> None:
        barrier.wait()
        report(instance_id, "unhealthy")

    threads = [closing_thread(db, fail, a["id"]) for a in primaries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = drain(sns)
    assert len(of_type(sent, "failover")) == 12
    (fleet,) = of_type(sent, "fleet_incident")  # exactly one, whatever the interleaving
    assert sorted(m["severity"] for m in of_type(sent, "failover")) == ["critical"] * 3 + ["warning"] * 9
    assert fleet["count"] == 4


def test_a_sweep_batch_that_fails_many_over_at_once_is_one_storm(db, sns, storm_threshold, monkeypatch):
    from tests.servers import FleetServer

    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    server = FleetServer()
    try:
        for k in range(8):
            config(f"swept-{k}", unhealthyThreshold=1, healthyThreshold=1, healthCheckTimeoutSeconds=1)
            for name in ("a", "b"):
                register(
                    f"swept-{k}", name, 0 if name == "a" else 1, healthCheckUrl=server.url(f"{k}-{name}")
                )
        sweep_now(db)
        drain(sns)
        for k in range(8):
            server.modes[f"{k}-a"] = "fail"
        sweep_now(db)
    finally:
        server.close()
    sent = drain(sns)
    assert len(of_type(sent, "fleet_incident")) == 1
    assert {m["severity"] for m in of_type(sent, "failover")} == {"warning"}  # one transaction: all in it


# -- config history ----------------------------------------------------------------------------------------


def history(proxy_id: str, tok: str = USER, **query: str) -> tuple[int, Any]:
    code, data, _ = call(
        "get_config_history", "GET", f"/proxy/failover/config/{proxy_id}/history", tok, query=query or None
    )
    return code, data


def test_every_effective_change_is_a_version_and_a_change_of_nothing_is_none(db):
    config("hist-1", unhealthyThreshold=2)
    config("hist-1", unhealthyThreshold=2)  # nothing changes: no version
    config("hist-1", unhealthyThreshold=5, failoverStrategy="round_robin")
    code, body = history("hist-1")
    assert code == 200 and body["nextCursor"] is None
    newest, first = body["data"]
    assert (newest["version"], first["version"]) == (2, 1)
    assert newest["changes"] == {
        "unhealthyThreshold": {"from": 2, "to": 5},
        "failoverStrategy": {"from": "priority", "to": "round_robin"},
    }
    assert newest["config"]["unhealthyThreshold"] == 5 and newest["config"]["healthyThreshold"] == 2
    assert newest["changedBy"] == "user-a" and newest["changedAt"].endswith("Z")
    assert first["changes"]["unhealthyThreshold"] == {"from": None, "to": 2}
    # version 1: every field that has a value, from null; a field still null changed from nothing
    assert set(first["changes"]) == {k for k, v in first["config"].items() if v is not None}
    assert "reportTtlSeconds" not in first["changes"] and first["config"]["reportTtlSeconds"] is None
    assert all(change["from"] is None and change["to"] is not None for change in first["changes"].values())


def test_history_pages_newest_first(db):
    for k in range(1, 6):
        config("hist-2", unhealthyThreshold=k)
    code, body = history("hist-2", limit="2")
    assert code == 200 and [v["version"] for v in body["data"]] == [5, 4] and body["nextCursor"]
    code, body = history("hist-2", limit="2", cursor=body["nextCursor"])
    assert code == 200 and [v["version"] for v in body["data"]] == [3, 2]
    _code, body = history("hist-2", limit="2", cursor=body["nextCursor"])
    assert [v["version"] for v in body["data"]] == [1] and body["nextCursor"] is None


def test_history_of_a_proxy_without_a_config_post_is_empty_and_of_another_owners_is_404(db):
    register("hist-3", "a")
    assert history("hist-3")[1]["data"] == []
    code, body = history("hist-3", tok=OTHER)
    assert code == 404 and body["error"]["code"] == "PROXY_FAILOVER_004"
    code, body = history("hist-3", limit="501")
    assert code == 400 and body["error"]["code"] == "PROXY_FAILOVER_001"
    assert history("hist-3", limit="500")[0] == 200


def test_a_config_change_by_an_admin_names_the_admin(db):
    config("hist-4", unhealthyThreshold=2)
    call(
        "create_config",
        "POST",
        "/proxy/failover/config",
        ADMIN,
        body={"proxyId": "hist-4", "config": {"unhealthyThreshold": 3}},
    )
    assert history("hist-4")[1]["data"][0]["changedBy"] == "ops"


# -- dry run ------------------------------------------------------------------------------------------------


def test_a_dry_run_answers_as_the_real_call_and_changes_nothing(db, sns):
    a, b = pair("dry-1")
    drain(sns)
    outbox = "SELECT count(*) FROM notification_outbox WHERE proxy_id = 'dry-1'"
    stored = db.autocommit().run(outbox)[0][0]
    body = {"proxyId": "dry-1", "sourceInstanceId": a["id"], "targetInstanceId": b["id"], "reason": "test"}
    code, data = execute({**body, "dryRun": True})
    assert code == 200, data
    assert data["data"] == {
        "dryRun": True,
        "eventType": "failover",
        "sourceInstanceId": a["id"],
        "targetInstanceId": b["id"],
    }
    assert data["message"] == "dry run: nothing was changed or published"
    assert redundancy("dry-1")["activeInstanceId"] == a["id"]
    assert events("dry-1") == [] and drain(sns) == []
    assert db.autocommit().run(outbox)[0][0] == stored


@pytest.mark.parametrize(
    ("change", "tok", "status", "code"),
    [
        ({"sourceInstanceId": "b", "targetInstanceId": "a"}, ADMIN, 409, "PROXY_FAILOVER_010"),  # not active
        ({"targetInstanceId": "a"}, ADMIN, 400, "PROXY_FAILOVER_012"),  # the same instance
        ({"proxyId": "nobody"}, ADMIN, 404, "PROXY_FAILOVER_004"),
        ({}, USER, 403, "PROXY_FAILOVER_021"),
        ({"reason": ""}, ADMIN, 400, "PROXY_FAILOVER_001"),
    ],
)
def test_a_dry_run_refuses_what_the_real_call_refuses(db, change, tok, status, code):
    a, b = pair("dry-2")
    ids = {"a": a["id"], "b": b["id"]}
    body = {"proxyId": "dry-2", "sourceInstanceId": a["id"], "targetInstanceId": b["id"], "reason": "test"}
    body.update({k: ids.get(v, v) for k, v in change.items()})
    real = execute(dict(body), tok) if tok == USER or change.get("proxyId") else None
    dry = execute({**body, "dryRun": True}, tok)
    assert dry[0] == status and dry[1]["error"]["code"] == code, dry
    if real is not None:
        assert real[0] == status and real[1]["error"]["code"] == code


def test_a_dry_run_to_an_unhealthy_target_is_409_unless_forced(db):
    a, b = pair("dry-3")
    report(b["id"], "unhealthy")
    body = {"proxyId": "dry-3", "sourceInstanceId": a["id"], "targetInstanceId": b["id"], "reason": "t"}
    code, data = execute({**body, "dryRun": True})
    assert code == 409 and data["error"]["code"] == "PROXY_FAILOVER_011"
    assert execute({**body, "dryRun": True, "force": True})[0] == 200
    assert redundancy("dry-3")["activeInstanceId"] == a["id"]


# -- drills -------------------------------------------------------------------------------------------------


def end_drill_now(db) -> None:
    db.autocommit().run(
        "UPDATE proxies SET drill_until = now() - interval '1 second' WHERE drill_until IS NOT NULL"
    )
    Sweeper(db, settings=settings()).run_once()


def test_a_drill_switches_marks_its_notices_and_switches_back_when_its_time_is_up(db, sns):
    a, b = pair("drl-1")
    drain(sns)
    code, data = drill({"proxyId": "drl-1", "durationSeconds": 60, "reason": "quarterly"})
    assert code == 202, data
    event = data["data"]
    assert (event["eventType"], event["status"]) == ("drill", "in_progress")
    assert (event["sourceInstanceId"], event["targetInstanceId"]) == (a["id"], b["id"])
    assert redundancy("drl-1")["activeInstanceId"] == b["id"]
    (started,) = drain(sns)
    assert started["type"] == "failover" and started["drill"] is True
    assert started["attributes"]["drill"] == "true" and started["eventId"] == event["id"]
    assert started["correlationId"] == event["id"]

    Sweeper(db, settings=settings()).run_once()  # not due yet: nothing happens
    assert redundancy("drl-1")["activeInstanceId"] == b["id"]
    end_drill_now(db)
    assert redundancy("drl-1")["activeInstanceId"] == a["id"]
    # the switch back is a ledger event of its own (the newest switch names the active instance), and
    # the drill's event is complete
    returned, done = events("drl-1")
    assert (returned["eventType"], returned["status"]) == ("failback", "completed")
    assert (returned["sourceInstanceId"], returned["targetInstanceId"]) == (b["id"], a["id"])
    assert returned["reason"] == "drill over: back to a"
    assert done["id"] == event["id"]
    assert done["status"] == "completed" and done["completedAt"] and done["durationMs"] >= 0
    (back,) = drain(sns)
    assert back["type"] == "failback" and back["drill"] is True and back["attributes"]["drill"] == "true"
    assert back["eventId"] == returned["id"] and back["correlationId"] == event["id"]


def test_a_drill_that_cannot_switch_back_fails_and_leaves_the_proxy(db, sns):
    a, b = pair("drl-2")
    drill({"proxyId": "drl-2", "targetInstanceId": b["id"], "durationSeconds": 60, "reason": "q"})
    report(a["id"], "unhealthy")  # the original dies during the drill
    drain(sns)
    end_drill_now(db)
    assert redundancy("drl-2")["activeInstanceId"] == b["id"]
    (done,) = [e for e in events("drl-2") if e["eventType"] == "drill"]
    assert done["status"] == "failed" and "instance a is unhealthy" in done["errorMessage"]
    (failed,) = of_type(drain(sns), "drill_failed")
    assert failed["drill"] is True and failed["attributes"] == {
        "type": "drill_failed",
        "proxyId": "drl-2",
        "severity": "warning",
        "drill": "true",
    }


def test_no_failback_during_a_drill(db):
    a, b = pair("drl-3")  # priority strategy, auto recovery on, hold-down 0: a would take traffic back
    drill({"proxyId": "drl-3", "durationSeconds": 600, "reason": "q"})
    for _ in range(3):
        report(a["id"], "healthy")
        report(b["id"], "healthy")
    assert redundancy("drl-3")["activeInstanceId"] == b["id"]


def test_drills_count_for_neither_storms_nor_flap_damping_nor_recovery(db, sns, monkeypatch):
    monkeypatch.setenv("NOTIFY_STORM_THRESHOLD", "1")
    reset_settings()
    pairs = [pair(f"drl-4{k}", flapThreshold=2) for k in range(3)]
    drain(sns)
    for k in range(3):
        assert drill({"proxyId": f"drl-4{k}", "durationSeconds": 60, "reason": "q"})[0] == 202
    end_drill_now(db)
    sent = drain(sns)
    assert of_type(sent, "fleet_incident") == [] and {m["severity"] for m in of_type(sent, "failover")} == {
        "critical"
    }
    for k, (_a, _b) in enumerate(pairs):
        found = instances(f"drl-4{k}")
        assert not found["a"]["isFlapping"] and found["a"]["recoveryAttempts"] == 0
        assert [e["eventType"] for e in events(f"drl-4{k}")] == ["failback", "drill"]


@pytest.mark.parametrize(
    ("body", "tok", "status", "code"),
    [
        ({"durationSeconds": 60, "reason": "q"}, USER, 403, "PROXY_FAILOVER_021"),
        ({"durationSeconds": 9, "reason": "q"}, ADMIN, 400, "PROXY_FAILOVER_001"),
        ({"durationSeconds": 3601, "reason": "q"}, ADMIN, 400, "PROXY_FAILOVER_001"),
        ({"durationSeconds": 60, "reason": ""}, ADMIN, 400, "PROXY_FAILOVER_001"),
        ({"durationSeconds": 60, "reason": "q", "proxyId": "nobody"}, ADMIN, 404, "PROXY_FAILOVER_004"),
    ],
)
def test_bad_drills_are_refused(db, body, tok, status, code):
    pair("drl-5")
    code_, data = drill({"proxyId": "drl-5", **body}, tok)
    assert code_ == status and data["error"]["code"] == code, data
    assert events("drl-5") == []


def test_a_second_drill_or_one_without_a_healthy_target_is_409(db):
    _a, _b = pair("drl-6")
    assert drill({"proxyId": "drl-6", "durationSeconds": 60, "reason": "q"})[0] == 202
    code, data = drill({"proxyId": "drl-6", "durationSeconds": 60, "reason": "q"})
    assert code == 409 and data["error"]["code"] == "PROXY_FAILOVER_032"
    _c, d = pair("drl-7")
    report(d["id"], "unhealthy")
    code, data = drill({"proxyId": "drl-7", "durationSeconds": 60, "reason": "q"})
    assert code == 409 and data["error"]["code"] == "PROXY_FAILOVER_031"
    code, data = drill(
        {"proxyId": "drl-7", "targetInstanceId": d["id"], "durationSeconds": 60, "reason": "q"}
    )
    assert code == 409 and data["error"]["code"] == "PROXY_FAILOVER_011"


def test_completing_a_drills_event_by_hand_ends_it_where_it_stands(db):
    _a, b = pair("drl-8")
    event = drill({"proxyId": "drl-8", "durationSeconds": 60, "reason": "q"})[1]["data"]
    code, data, _ = call(
        "complete_event",
        "PUT",
        f"/proxy/failover/events/{event['id']}/complete",
        ADMIN,
        body={"status": "completed"},
    )
    assert code == 200, data
    end_drill_now(db)  # nothing is due any more
    assert redundancy("drl-8")["activeInstanceId"] == b["id"]
    assert drill({"proxyId": "drl-8", "durationSeconds": 60, "reason": "again"})[0] == 202


# -- every notification type, read from the queue with its attributes -----------------------------------------


def _failover(db) -> None:
    a, _b = pair("t-failover")
    report(a["id"], "unhealthy")


def _failback(db) -> None:
    a, _b = pair("t-failback")
    report(a["id"], "unhealthy")
    report(a["id"], "healthy")


def _manual_failover(db) -> None:
    _a, b = pair("t-manual")
    call("update_redundancy", "PUT", "/proxy/t-manual/redundancy", ADMIN, body={"activeInstanceId": b["id"]})


def _instance_flapping(db) -> None:
    _a, b = pair("t-flap", flapThreshold=2)
    for status in ("unhealthy", "healthy", "unhealthy"):
        report(b["id"], status)


def _degraded_and_restored(db) -> None:
    a, b = pair("t-posture")
    report(b["id"], "unhealthy")
    report(a["id"], "unhealthy")  # no healthy instance left: degraded
    report(a["id"], "healthy")
    report(b["id"], "healthy")  # both back: restored


def _manual_attention(db) -> None:
    config("t-attention", unhealthyThreshold=1, maxRecoveryAttempts=1, recoveryBackoffSeconds=1)
    _a, b = register("t-attention", "a", 0), register("t-attention", "b", 1)
    report(b["id"], "unhealthy")  # recovery_needed, attempt 1 of 1
    db.autocommit().run("UPDATE proxy_instances SET next_recovery_at = now() - interval '1 second'")
    sweep_now(db)  # the scheduled run finds the attempts spent


def _maintenance(db) -> None:
    a, _b = pair("t-maint")
    maintain(a["id"])
    call("end_maintenance", "DELETE", f"/proxy/instances/{a['id']}/maintenance")


def _drill_failed(db) -> None:
    a, _b = pair("t-drill")
    drill({"proxyId": "t-drill", "durationSeconds": 60, "reason": "q"})
    report(a["id"], "unhealthy")
    end_drill_now(db)


def _fleet_incident(db) -> None:
    for k in range(21):  # the default threshold is 20
        a, _b = pair(f"t-fleet-{k}")
        report(a["id"], "unhealthy")


def _vantage_and_checks(db) -> None:
    """The only vantage goes blind (its canary fails) and sees again: impaired, checks suspended; then
    restored, checks resumed."""
    from tests.servers import FleetServer

    canary = FleetServer()
    try:
        pair("t-vantage")
        for mode in ("fail", "ok"):
            canary.modes["canary"] = mode
            sweep_now(db, sweep_canary_urls=canary.url("canary"))
    finally:
        canary.close()


def _brake(db) -> None:
    for state in ("held", "enabled"):
        code, _, _ = call(
            "set_safety", "PUT", "/fleet/safety", ADMIN, body={"autoFailover": state, "reason": "t"}
        )
        assert code == 200


def _decommission(db) -> None:
    pair("t-removed")
    code, _, _ = call("decommission_proxy", "DELETE", "/proxy/t-removed", ADMIN, query={"force": "true"})
    assert code == 200


PRODUCERS = {
    "route_changed": _failover,
    "proxy_removed": _decommission,
    "vantage_impaired": _vantage_and_checks,
    "vantage_restored": _vantage_and_checks,
    "checks_suspended": _vantage_and_checks,
    "checks_resumed": _vantage_and_checks,
    "auto_failover_held": _brake,
    "auto_failover_released": _brake,
    "failover": _failover,
    "failback": _failback,
    "manual_failover": _manual_failover,
    "instance_unhealthy": _failover,
    "instance_healthy": _failback,
    "instance_flapping": _instance_flapping,
    "proxy_degraded": _degraded_and_restored,
    "proxy_restored": _degraded_and_restored,
    "recovery_needed": _failover,
    "manual_attention_required": _manual_attention,
    "maintenance_started": _maintenance,
    "maintenance_ended": _maintenance,
    "maintenance_failover": _maintenance,
    "drill_failed": _drill_failed,
    "fleet_incident": _fleet_incident,
}
SEVERITY = {
    "route_changed": "info",
    "proxy_removed": "info",
    "vantage_impaired": "warning",
    "vantage_restored": "info",
    "checks_suspended": "critical",
    "checks_resumed": "info",
    "auto_failover_held": "critical",
    "auto_failover_released": "info",
    "failover": "critical",
    "failback": "info",
    "manual_failover": "warning",
    "instance_flapping": "warning",
    "proxy_degraded": "critical",
    "proxy_restored": "info",
    "recovery_needed": "warning",
    "manual_attention_required": "critical",
    "maintenance_started": "info",
    "maintenance_ended": "info",
    "maintenance_failover": "info",
    "drill_failed": "warning",
    "fleet_incident": "critical",
}


def test_every_notification_type_has_a_producer_here():
    assert set(PRODUCERS) == {kind.value for kind in NoticeType}


@pytest.mark.parametrize("kind", sorted(PRODUCERS))
def test_each_notification_type_arrives_with_its_attributes(db, sns, kind):
    PRODUCERS[kind](db)
    found = of_type(drain(sns, routes=True), kind)
    assert found, kind
    message = found[0]
    expected = {"type": kind, "severity": message["severity"], "drill": str(message["drill"]).lower()}
    if message["proxyId"] is not None:
        expected["proxyId"] = message["proxyId"]
    assert message["attributes"] == expected
    if kind in SEVERITY:
        assert message["severity"] == SEVERITY[kind]
    assert {"id", "type", "proxyId", "userId", "occurredAt", "severity", "correlationId", "drill"} <= set(
        message
    )


def test_a_flapping_backup_gets_one_recovery_cycle_and_one_notice_not_one_per_flap(db, sns):
    _a, b = pair("flaps", flapThreshold=4, recoveryBackoffSeconds=300)
    drain(sns)
    for k in range(12):  # six times down and up: flapping from the fourth change
        report(b["id"], "unhealthy" if k % 2 == 0 else "healthy")
    sent = drain(sns)
    assert len(of_type(sent, "instance_flapping")) == 1
    # Before it flaps each down-up pair is a cycle of its own (two); once it flaps, the open cycle
    # keeps its backoff across the flaps: no notice for the four downs that follow.
    assert len(of_type(sent, "recovery_needed")) == 2
    recoveries = [e for e in events("flaps") if e["eventType"] == "recovery"]
    assert sorted(e["status"] for e in recoveries) == ["completed", "in_progress"], recoveries
