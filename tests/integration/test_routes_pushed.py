"""Routing changes pushed (contract: "Routing changes pushed"): every transaction that changes a
proxy's routing answer publishes one `route_changed` carrying the answer as GET route returns it,
its ETag and its version; a write that leaves the answer as it was publishes none."""

from __future__ import annotations

import threading
import time
from typing import Any

from proxy_failover.sweep import Sweeper

from tests.helpers import closing_thread, drain, token
from tests.integration.test_api_flow import register, report
from tests.integration.test_operations import call, config, maintain, patch
from tests.integration.test_sweep import settings

USER = token("user-a")
ADMIN = token("ops", admin=True)


def pushed(sns) -> list[dict[str, Any]]:
    return [m for m in drain(sns, routes=True) if m["type"] == "route_changed"]


def route(proxy_id: str) -> tuple[dict, str]:
    code, body, headers = call("get_route", "GET", f"/proxy/{proxy_id}/route")
    assert code == 200, body
    return body["data"], headers["ETag"]


def pair(proxy_id: str, **fields: Any) -> tuple[dict, dict]:
    config(proxy_id, unhealthyThreshold=1, healthyThreshold=1, failbackHoldDownSeconds=3600, **fields)
    a, b = register(proxy_id, "a", 0), register(proxy_id, "b", 1)
    report(a["id"], "healthy")
    report(b["id"], "healthy")
    return a, b


def test_a_switch_pushes_the_answer_with_its_etag_and_version(db, sns):
    a, b = pair("rc-1")
    drain(sns, routes=True)
    before, _ = route("rc-1")
    report(a["id"], "unhealthy")  # fails over to b
    (message,) = pushed(sns)
    answer, etag = route("rc-1")
    assert message["route"] == answer and message["etag"] == etag
    assert message["version"] == answer["version"] == before["version"] + 1
    assert answer["activeInstanceId"] == b["id"]
    assert message["proxyId"] == "rc-1" and message["severity"] == "info"
    assert message["attributes"]["proxyId"] == "rc-1" and message["attributes"]["type"] == "route_changed"
    # the ETag a data plane holds is answered 304 until the next change, which it is pushed
    code, _, _ = call("get_route", "GET", "/proxy/rc-1/route", headers={"if-none-match": etag})
    assert code == 304


def test_writes_that_leave_the_answer_push_nothing(db, sns):
    a, b = pair("rc-2")
    drain(sns, routes=True)
    for _ in range(3):
        report(a["id"], "healthy")  # counters move, the answer does not
    config("rc-2", unhealthyThreshold=2)  # a config change that routes nothing differently
    patch(b["id"], {"priority": 5})  # the backup's priority: without load balancing, no answer change
    maintain(b["id"])  # the backup into maintenance: the active alone still takes everything
    assert pushed(sns) == []


def test_every_kind_of_change_pushes_once_per_transaction(db, sns):
    a, b = pair("rc-3")
    drain(sns, routes=True)
    versions = [route("rc-3")[0]["version"]]

    def one_push() -> None:
        (message,) = pushed(sns)
        versions.append(message["version"])
        assert message["route"] == route("rc-3")[0]

    patch(a["id"], {"endpoint": "10.0.0.9:8443"})  # the active's endpoint
    one_push()
    maintain(a["id"])  # the active into maintenance: moved off it first, in the same transaction
    one_push()
    code, _, _ = call("end_maintenance", "DELETE", f"/proxy/instances/{a['id']}/maintenance")
    assert code == 200
    assert pushed(sns) == []  # a is a backup again: the active's answer did not change
    config("rc-3", enableLoadBalancing=True)  # a config change that spreads traffic
    one_push()
    patch(b["id"], {"weight": 10})  # round robin: weights do not matter
    assert pushed(sns) == []
    config("rc-3", loadBalancingAlgorithm="weighted")
    one_push()
    patch(b["id"], {"weight": 30})  # now they do
    one_push()
    code, _, _ = call(
        "execute_failover",
        "POST",
        "/proxy/failover/execute",
        ADMIN,
        body={
            "proxyId": "rc-3",
            "sourceInstanceId": b["id"],
            "targetInstanceId": a["id"],
            "reason": "back",
        },
    )
    assert code == 200
    one_push()
    code, _, _ = call("deregister_instance", "DELETE", f"/proxy/instances/{b['id']}")
    assert code == 200
    one_push()
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_least_connections_shares_do_not_flood(db, sns):
    a, b = pair("rc-4", enableLoadBalancing=True, loadBalancingAlgorithm="least_connections")
    report(a["id"], "healthy", metrics={"connectionCount": 100})
    report(b["id"], "healthy", metrics={"connectionCount": 100})
    drain(sns, routes=True)
    for k in range(20):  # counts that wander by a connection or two
        report(a["id"], "healthy", metrics={"connectionCount": 100 + k % 3})
        report(b["id"], "healthy", metrics={"connectionCount": 100 + (k + 1) % 3})
    assert pushed(sns) == []
    report(a["id"], "healthy", metrics={"connectionCount": 400})  # a real imbalance
    (moved,) = pushed(sns)
    shares = {t["instanceId"]: t["share"] for t in moved["route"]["targets"]}
    assert shares[b["id"]] > 0.7


def test_slow_start_ramps_a_returning_instance_and_its_end_is_pushed(db, sns):
    a, b = pair("rc-5", enableLoadBalancing=True, slowStartSeconds=1)
    report(b["id"], "unhealthy")
    drain(sns, routes=True)
    report(b["id"], "healthy")  # b is a target again: its ramp starts
    (started,) = pushed(sns)
    ramp = next(t for t in started["route"]["targets"] if t["instanceId"] == b["id"])["ramp"]
    assert ramp["from"] == 0.1 and ramp["startsAt"] < ramp["endsAt"]
    answer, etag = route("rc-5")
    assert answer == started["route"]
    report(a["id"], "healthy")  # a write during the ramp: the answer stays still
    assert pushed(sns) == [] and route("rc-5")[1] == etag
    time.sleep(1.1)
    Sweeper(db, settings=settings()).run_once()  # the ramp's end is a deadline of the sweep
    (ended,) = pushed(sns)
    assert all(t["ramp"] is None for t in ended["route"]["targets"])
    assert ended["version"] == started["version"] + 1


def test_versions_grow_under_concurrent_writers(db, sns):
    config(
        "rc-6", unhealthyThreshold=1, healthyThreshold=1, failbackHoldDownSeconds=0, enableLoadBalancing=True
    )
    fleet = [register("rc-6", f"i{k}", k) for k in range(4)]
    drain(sns, routes=True)
    start = threading.Barrier(4)

    def flip(instance: dict) -> None:
        start.wait()
        for status in ("healthy", "unhealthy", "healthy", "unhealthy", "healthy"):
            report(instance["id"], status)

    threads = [closing_thread(db, flip, i) for i in fleet]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    versions = [m["version"] for m in pushed(sns)]
    assert len(versions) == len(set(versions))  # one version per change, never reused
    final, _ = route("rc-6")
    assert final["version"] == max(versions)


def test_a_decommissioned_proxy_says_so_and_pushes_no_answer(db, sns):
    pair("rc-7")
    drain(sns, routes=True)
    code, _, _ = call("decommission_proxy", "DELETE", "/proxy/rc-7", query={"force": "true"})
    assert code == 200
    kinds = [m["type"] for m in drain(sns, routes=True)]
    assert kinds == ["proxy_removed"]
