"""Operators see the fleet: the list of proxies (20), the fleet ledger (21), decommission (22) and an
instance's check history (23), through the handlers against PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from proxy_failover.store.proxies import plan_of_list

from tests.helpers import closing_thread, drain, token
from tests.integration.test_api_flow import register, report
from tests.integration.test_operations import call

USER = token("user-a")
OTHER = token("user-b")
ADMIN = token("ops", admin=True)


def proxies(tok: str = USER, **query: str) -> tuple[int, Any, dict]:
    return call("list_proxies", "GET", "/proxies", tok, query=query or None)


def fleet_events(tok: str = USER, **query: str) -> tuple[int, Any, dict]:
    return call("list_fleet_events", "GET", "/proxy/failover/events", tok, query=query or None)


def decommission(proxy_id: str, tok: str = USER, **query: str) -> tuple[int, Any, dict]:
    return call("decommission_proxy", "DELETE", f"/proxy/{proxy_id}", tok, query=query or None)


def checks(instance_id: str, tok: str = USER, **query: str) -> tuple[int, Any, dict]:
    return call("list_checks", "GET", f"/proxy/instances/{instance_id}/checks", tok, query=query or None)


def config(proxy_id: str, tok: str = USER, **fields: Any) -> dict:
    code, data, _ = call(
        "create_config", "POST", "/proxy/failover/config", tok, body={"proxyId": proxy_id, "config": fields}
    )
    assert code in (200, 201), data
    return data["data"]


def pair(proxy_id: str, tok: str = USER) -> tuple[dict, dict]:
    config(proxy_id, tok, unhealthyThreshold=1, healthyThreshold=1, failbackHoldDownSeconds=0)
    a, b = register(proxy_id, "a", 0, tok=tok), register(proxy_id, "b", 1, tok=tok)
    report(a["id"], "healthy", tok=tok)
    report(b["id"], "healthy", tok=tok)
    return a, b


def every_page(tok: str = USER, limit: int = 7, **query: str) -> list[dict]:
    found, cursor = [], None
    while True:
        more = {"limit": str(limit), **query, **({"cursor": cursor} if cursor else {})}
        code, body, _ = proxies(tok, **more)
        assert code == 200, body
        found += body["data"]
        cursor = body["nextCursor"]
        if cursor is None:
            return found


# -- GET /proxies -----------------------------------------------------------------------------------


def test_the_fleet_lists_every_proxy_of_its_owner_in_id_order_with_its_posture(db):
    for k in range(20):
        pair(f"edge-{k:02d}")
    config("only-config")  # a proxy with a config and no instance is listed too
    pair("theirs", OTHER)
    listed = every_page()
    assert [p["proxyId"] for p in listed] == sorted([f"edge-{k:02d}" for k in range(20)] + ["only-config"])
    first = listed[0]
    assert first == {
        "proxyId": "edge-00",
        "userId": "user-a",
        "activeInstanceId": first["activeInstanceId"],
        "activeInstanceName": "a",
        "totalInstances": 2,
        "healthyInstances": 2,
        "instancesInMaintenance": 0,
        "isDegraded": False,
        "degradedReasons": [],
        "redundancyLevel": "dual",
        "strategy": "priority",
        "lastFailoverAt": None,
        "lastFailoverReason": None,
    }
    bare = next(p for p in listed if p["proxyId"] == "only-config")
    assert (bare["totalInstances"], bare["activeInstanceId"], bare["redundancyLevel"]) == (0, None, "none")
    # another owner sees theirs only; an admin sees all, or one owner's
    assert [p["proxyId"] for p in every_page(OTHER)] == ["theirs"]
    assert len(every_page(ADMIN, limit=500)) == 22
    assert [p["proxyId"] for p in every_page(ADMIN, owner="user-b")] == ["theirs"]


def test_degraded_first_after_a_failure_prefix_search_and_the_page_etag(db):
    a, _b = pair("edge-1")
    pair("edge-2")
    pair("core-1")
    code, body, headers = proxies(degraded="true")
    assert (code, body["data"]) == (200, [])
    etag = headers["ETag"]
    code, body, _ = call(
        "list_proxies", "GET", "/proxies", USER, query={"degraded": "true"}, headers={"if-none-match": etag}
    )
    assert (code, body) == (304, None)
    report(a["id"], "unhealthy")  # edge-1 fails over to b: one healthy instance left
    code, body, headers = proxies(degraded="true")
    assert [p["proxyId"] for p in body["data"]] == ["edge-1"]
    degraded = body["data"][0]
    assert degraded["isDegraded"] and degraded["activeInstanceName"] == "b"
    assert degraded["lastFailoverAt"] is not None and degraded["lastFailoverReason"]
    assert headers["ETag"] != etag
    assert [p["proxyId"] for p in proxies(degraded="false")[1]["data"]] == ["core-1", "edge-2"]
    assert [p["proxyId"] for p in proxies(q="edge-")[1]["data"]] == ["edge-1", "edge-2"]
    assert [p["proxyId"] for p in proxies(q="edge-1")[1]["data"]] == ["edge-1"]
    assert proxies(q="zzz")[1]["data"] == []


def test_ids_list_in_byte_order_whatever_the_database_collation(db):
    for proxy_id in ("b", "B", "a.1", "a-1", "a_1", "a:1", "A"):
        config(proxy_id)
    assert [p["proxyId"] for p in every_page(limit=2)] == sorted(["b", "B", "a.1", "a-1", "a_1", "a:1", "A"])
    assert [p["proxyId"] for p in every_page(q="a")] == sorted(["a.1", "a-1", "a_1", "a:1"])


@pytest.mark.parametrize(
    ("query", "tok", "status", "field"),
    [
        ({"owner": "user-b"}, USER, 403, None),
        ({"degraded": "yes"}, USER, 400, "degraded"),
        ({"limit": "501"}, USER, 400, "limit"),
        ({"limit": "0"}, USER, 400, "limit"),
        ({"q": "a b"}, USER, 400, "q"),
        ({"q": "x" * 256}, USER, 400, "q"),
        ({"q": "a\x00"}, USER, 400, "q"),
        ({"owner": "o\x00"}, ADMIN, 400, "owner"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, USER, 400, "cursor"),
    ],
)
def test_bad_fleet_queries_are_refused_in_the_envelope(db, query, tok, status, field):
    code, body, _ = proxies(tok, **query)
    assert code == status and body["error"]["statusCode"] == status, body
    if field:
        assert body["error"]["details"][0]["field"] == field


def test_a_page_is_one_round_trip_and_walks_the_index_at_10k_proxies(db):
    con = db.autocommit()
    con.run(
        "INSERT INTO proxies (proxy_id, owner_id) SELECT 'big-' || lpad(g::text, 5, '0'),"
        " CASE WHEN g % 10 = 0 THEN 'team-b' ELSE 'team-a' END FROM generate_series(1, 10000) g"
    )
    con.run(
        "INSERT INTO proxy_instances (proxy_id, instance_name) SELECT proxy_id, n FROM proxies,"
        " (VALUES ('a'), ('b')) v(n)"
    )
    con.run(  # one proxy in ten degraded
        "INSERT INTO proxy_redundancy_status (proxy_id, total_instances, healthy_instances, unhealthy_instances,"
        " redundancy_level, is_degraded) SELECT proxy_id, 2, 2, 0, 'dual', proxy_id LIKE '%7' FROM proxies"
    )
    con.run("ANALYZE proxies")
    con.run("ANALYZE proxy_instances")
    con.run("ANALYZE proxy_redundancy_status")

    def rows_read_of_proxies(plan: dict) -> list[tuple[str, str, int]]:
        found = []
        if plan.get("Relation Name") == "proxies":
            read = plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
            found.append((plan["Node Type"], plan.get("Index Name", ""), read))
        for child in plan.get("Plans", []):
            found += rows_read_of_proxies(child)
        return found

    cases = [
        ({}, "proxies_page_idx"),
        ({"after": "big-05000"}, "proxies_page_idx"),
        ({"prefix": "big-07", "prefix_end": "big-07~"}, "proxies_page_idx"),
        ({"owner": "team-b"}, "proxies_owner_page_idx"),
        # nine proxies in ten are team-a's: the id order with a filter reads as few
        ({"owner": "team-a", "after": "big-09000"}, "proxies_owner_page_idx|proxies_page_idx"),
        # the degraded ones from their postures' partial index, each proxy then by its key
        ({"degraded": True}, "proxies_pkey"),
        ({"degraded": True, "after": "big-05000"}, "proxies_pkey"),
        ({"degraded": True, "owner": "team-b"}, "proxies_pkey"),
    ]
    # each page as planned for its own parameters, and as the plan PostgreSQL keeps for any
    for (params, index), generic in itertools.product(cases, (False, True)):
        plan = plan_of_list(con, limit=101, generic=generic, **params)
        scans = rows_read_of_proxies(plan)
        # the page's rows from an index, in order: no scan of the fleet, no sort of it
        assert len(scans) == 1 and scans[0][0] == "Index Scan", (params, scans)
        assert scans[0][1] in index.split("|"), (params, scans)
        assert scans[0][2] <= 3 * 101, (params, scans)
        assert plan["Node Type"] == "Limit" and plan["Plans"][0]["Node Type"] != "Sort", plan
        if params.get("degraded"):
            assert "proxy_redundancy_degraded_page_idx" in str(plan), plan
    start = con.round_trips
    from proxy_failover.identity import Principal
    from proxy_failover.store.proxies import list_proxies

    page = list_proxies(con, Principal("team-a"), owner=None, prefix=None, degraded=None, limit=100)
    assert len(page.items) == 100 and page.next_key == ("big-00111",)
    assert con.round_trips - start <= 2  # the statement (and, on a connection's first use, its PREPARE)
    start = con.round_trips
    list_proxies(con, Principal("team-a"), owner=None, prefix=None, degraded=None, limit=100)
    assert con.round_trips - start == 1


# -- GET /proxy/failover/events ---------------------------------------------------------------------


def test_the_fleet_ledger_spans_proxies_newest_first_by_type_and_time_with_cursors(db):
    a1, _ = pair("edge-1")
    a2, _ = pair("edge-2")
    pair("theirs", OTHER)
    report(a1["id"], "unhealthy")
    report(a2["id"], "unhealthy")
    code, body, _ = fleet_events(type="failover")
    assert code == 200
    assert [(e["proxyId"], e["eventType"]) for e in body["data"]] == [
        ("edge-2", "failover"),
        ("edge-1", "failover"),
    ]
    everything = body["data"]
    # everything of user-a's, one at a time: the same events, newest first, no repeat
    seen, cursor = [], None
    while True:
        more = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        code, body, _ = fleet_events(**more)
        seen += body["data"]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert len({e["id"] for e in seen}) == len(seen) >= 2
    assert [e["startedAt"] for e in seen] == sorted((e["startedAt"] for e in seen), reverse=True)
    assert {e["id"] for e in everything} <= {e["id"] for e in seen}
    assert all(e["proxyId"] != "theirs" for e in seen)
    # an admin sees every owner's
    assert {e["proxyId"] for e in fleet_events(ADMIN, limit="500")[1]["data"]} >= {"edge-1", "edge-2"}
    # time bounds: since <= startedAt < until
    newest = datetime.fromisoformat(seen[0]["startedAt"])
    code, body, _ = fleet_events(since=(newest + timedelta(seconds=1)).isoformat())
    assert body["data"] == []
    code, body, _ = fleet_events(until=(newest - timedelta(days=1)).isoformat())
    assert body["data"] == []
    code, body, _ = fleet_events(since=(newest - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"))
    assert len(body["data"]) == len(seen)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"type": "explosion"}, "type"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-01T10:00:00"}, "since"),  # no time zone
        ({"until": "2026-12-01T10:00:00+99:00"}, "until"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "since"),
        ({"limit": "abc"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
def test_bad_ledger_queries_are_refused_in_the_envelope(db, query, field):
    code, body, _ = fleet_events(**query)
    assert code == 400 and body["error"]["details"][0]["field"] == field, body


# -- DELETE /proxy/{proxyId} ------------------------------------------------------------------------


def test_decommission_removes_the_proxy_keeps_its_history_and_frees_its_id(db, sns):
    a, b = pair("retire-me")
    config("retire-me", unhealthyThreshold=2)  # a second config version
    report(a["id"], "unhealthy")
    report(a["id"], "unhealthy")
    drain(sns)
    code, body, _ = decommission("retire-me")
    assert code == 409 and body["error"]["code"] == "PROXY_FAILOVER_033"
    assert proxies(q="retire-me")[1]["data"] != []  # nothing changed
    assert decommission("retire-me", OTHER)[0] == 404  # another owner's: not found
    code, body, _ = decommission("retire-me", force="true")
    assert code == 200, body
    removed = body["data"]
    assert removed["proxyId"] == "retire-me" and removed["userId"] == "user-a"
    assert sorted(removed["removedInstanceIds"]) == sorted([a["id"], b["id"]])
    assert removed["removedConfig"] is True
    assert removed["keptEvents"] >= 1 and removed["keptConfigVersions"] == 2
    messages = [m for m in drain(sns) if m["type"] == "proxy_removed"]
    assert len(messages) == 1 and messages[0]["severity"] == "info"
    assert messages[0]["instanceIds"] == removed["removedInstanceIds"] and messages[0]["forced"] is True
    # gone from every read of the proxy
    assert proxies(q="retire-me")[1]["data"] == []
    assert call("get_config", "GET", "/proxy/failover/config/retire-me")[0] == 404
    assert call("list_instances", "GET", "/proxy/retire-me/instances")[0] == 404
    assert call("get_redundancy", "GET", "/proxy/retire-me/redundancy")[0] == 404
    assert report_status(a["id"]) == 404
    assert checks(a["id"])[0] == 404
    assert decommission("retire-me")[0] == 404
    # its ledger stays in the owner's fleet ledger until retention
    kept = [e for e in fleet_events(limit="500")[1]["data"] if e["proxyId"] == "retire-me"]
    assert len(kept) == removed["keptEvents"]
    # the id is free: anyone may create it anew, and it starts with no history of the old one
    config("retire-me", OTHER)
    assert (
        call("get_config_history", "GET", "/proxy/failover/config/retire-me/history", OTHER)[1]["data"][0][
            "version"
        ]
        == 1
    )
    assert (
        len(call("get_config_history", "GET", "/proxy/failover/config/retire-me/history", OTHER)[1]["data"])
        == 1
    )
    assert call("list_events", "GET", "/proxy/retire-me/failover/events", OTHER)[1]["data"] == []
    assert all(e["proxyId"] != "retire-me" for e in fleet_events(OTHER)[1]["data"])


def report_status(instance_id: str) -> int:
    code, _, _ = call(
        "report_health", "PUT", f"/proxy/instances/{instance_id}/health", body={"healthStatus": "healthy"}
    )
    return code


def test_a_proxy_without_instances_goes_without_force_and_its_open_drill_is_closed(db):
    config("bare")
    code, body, _ = decommission("bare")
    assert (
        code == 200 and body["data"]["removedInstanceIds"] == [] and body["data"]["keptConfigVersions"] == 1
    )
    pair("drilled")
    code, _, _ = call(
        "start_drill",
        "POST",
        "/proxy/failover/drill",
        ADMIN,
        body={"proxyId": "drilled", "durationSeconds": 600, "reason": "rehearsal"},
    )
    assert code == 202
    assert decommission("drilled", force="true")[0] == 200
    drill = next(e for e in fleet_events(type="drill")[1]["data"] if e["proxyId"] == "drilled")
    assert drill["status"] == "failed" and drill["errorMessage"] == "proxy decommissioned"


def test_a_report_racing_a_decommission_happens_before_it_or_finds_nothing(db):
    """Many rounds: a report of the proxy's instance and its decommission at once. Either the report
    succeeds (it came first, and its instance was removed with the proxy) or it is a 404; never a
    500, never an instance left behind."""
    outcomes = set()
    for k in range(12):
        a, _b = pair(f"race-{k}")
        codes: dict[str, int] = {}
        start = threading.Barrier(2)

        def do_report(a=a, start=start, codes=codes) -> None:
            start.wait()
            codes["report"] = report_status(a["id"])

        def do_remove(k=k, start=start, codes=codes) -> None:
            start.wait()
            codes["remove"] = decommission(f"race-{k}", force="true")[0]

        threads = [closing_thread(db, do_report), closing_thread(db, do_remove)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert codes["remove"] == 200, codes
        assert codes["report"] in (200, 404), codes
        outcomes.add(codes["report"])
        left = db.autocommit().run("SELECT count(*) FROM proxy_instances WHERE proxy_id = :p", p=f"race-{k}")
        assert left[0][0] == 0
    assert outcomes <= {200, 404}


# -- GET /proxy/instances/{id}/checks ---------------------------------------------------------------


def test_reports_are_kept_newest_first_with_latency_and_bounded_to_100(db):
    a, _b = pair("hist")
    report(a["id"], "healthy", metrics={"averageLatencyMs": 12.5})
    code, body, _ = checks(a["id"])
    assert code == 200
    newest = body["data"][0]
    assert newest["source"] == "report" and newest["vantage"] is None
    assert newest["result"] == "healthy" and newest["latencyMs"] == 12.5
    for _ in range(110):
        report(a["id"], "healthy")
    code, body, _ = checks(a["id"], limit="500")
    assert len(body["data"]) == 100  # the ring: the oldest written over
    stamps = [c["checkedAt"] for c in body["data"]]
    assert stamps == sorted(stamps, reverse=True)
    stored = db.autocommit().run("SELECT count(*) FROM check_results WHERE instance_id = :i", i=a["id"])
    assert stored[0][0] == 100
    assert len(checks(a["id"])[1]["data"]) == 50  # the default limit
    assert checks(a["id"], OTHER)[0] == 404
    assert checks("00000000-0000-4000-8000-000000000000")[0] == 404
    assert checks("not-a-uuid")[0] == 400
    assert checks(a["id"], limit="501")[0] == 400


def test_probes_are_kept_per_vantage_with_their_reason(db):
    from proxy_failover.domain.change import Check, Step
    from proxy_failover.domain.models import HealthStatus
    from proxy_failover.service.health import HealthUseCases
    from proxy_failover.store import locks

    a, _b = pair("probed")
    use_cases = HealthUseCases(db)
    when = datetime.now(UTC)
    for k in range(3):
        for vantage, result, reason in (("east", "healthy", None), ("west", "unhealthy", "connect timeout")):
            check = Check(
                HealthStatus(result),
                latency_ms=10.0 + k,
                reason=reason,
                vantage=vantage,
                checked_at=when + timedelta(seconds=k),
            )
            use_cases.write(
                lambda con: locks.lock_proxies(con, ["probed"]),
                lambda aggregate, now, check=check: Step(checks={a["id"]: check}),
                actor="system",
            )
    # a repeat of an older result (a queue delivering twice) is not recorded again
    late = Check(HealthStatus.HEALTHY, latency_ms=1.0, vantage="east", checked_at=when)
    use_cases.write(
        lambda con: locks.lock_proxies(con, ["probed"]),
        lambda aggregate, now: Step(checks={a["id"]: late}),
        actor="system",
    )
    body = checks(a["id"], limit="500")[1]
    probes = [c for c in body["data"] if c["source"] == "probe"]
    assert len(probes) == 6
    assert {c["vantage"] for c in probes} == {"east", "west"}
    west = [c for c in probes if c["vantage"] == "west"]
    assert all(c["result"] == "unhealthy" and c["reason"] == "connect timeout" for c in west)
    assert [c["latencyMs"] for c in west] == [12.0, 11.0, 10.0]
