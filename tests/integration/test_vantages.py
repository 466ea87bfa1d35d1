"""Trust no single checker, on real PostgreSQL with real probes: two vantages (sweep workers probing from
127.0.0.2 and 127.0.0.3, as the local stack's are), a fleet server that can be partitioned from either,
canaries, the emergency brake, and storms of any page. Notifications come back through moto SNS/SQS."""

from __future__ import annotations

import pytest
from proxy_failover.domain.models import HealthStatus
from proxy_failover.domain.safety import AutoFailover
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.service.safety import SafetyUseCases
from proxy_failover.settings import Settings
from proxy_failover.store import claims
from proxy_failover.sweep import Sweeper

from local.emulators import bounded
from tests.helpers import drain
from tests.integration.test_sweep import active_of, make_proxy, settings
from tests.servers import FleetServer

OWNER = Principal("owner")
ADMIN = Principal("ops", is_admin=True)
SOURCES = {"a": "127.0.0.2", "b": "127.0.0.3"}


def vantage(name: str, **overrides: object) -> Settings:
    return settings(
        sweep_vantage=name,
        probe_source_addresses=",".join(f"{v}={a}" for v, a in SOURCES.items()),
        **overrides,
    )


@pytest.fixture(autouse=True)
def loopback(monkeypatch):
    from proxy_failover.settings import reset_settings

    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()


@pytest.fixture
def fleet():
    server = FleetServer()
    yield server
    server.close()


@pytest.fixture
def two_vantages(db):
    """Vantages a and b known (every proxy scheduled at both), the default one gone."""
    con = db.autocommit()
    con.run("DELETE FROM vantages")
    for name in SOURCES:
        claims.register_vantage(con, name)
    return db


def check_round(db, **overrides) -> dict:
    """Every proxy due at both vantages, and each vantage's sweep once: one check from each."""
    found = {}
    for name in SOURCES:
        db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now() WHERE vantage = :v", v=name)
        found[name] = Sweeper(db, settings=vantage(name, **overrides)).run_once()
    return found


def types(messages):
    return [m["type"] for m in messages]


def test_one_vantage_partitioned_from_the_targets_fails_nothing_over_and_pages_nobody(
    two_vantages, fleet, sns
):
    db = two_vantages
    service = FailoverService(db)
    ids = make_proxy(service, fleet, "p1", ["primary", "backup"], unhealthy_threshold=2)
    check_round(db)
    drain(sns)
    # When vantage a can no longer reach the targets (its network path broke), for many rounds
    fleet.unreachable_from.add(SOURCES["a"])
    for _ in range(5):
        check_round(db)
    # Then a counts them unhealthy, b healthy: a tie keeps the status, nothing fails over, nobody is paged
    assert active_of(db, "p1") == ids["primary"]
    instances = {i.instance.name: i.instance for i in service.list_instances(OWNER, "p1").items}
    assert instances["primary"].health_status is HealthStatus.HEALTHY
    verdicts = {v.vantage: v.verdict for v in instances["primary"].vantages}
    assert verdicts == {"a": HealthStatus.UNHEALTHY, "b": HealthStatus.HEALTHY}
    assert [m for m in drain(sns) if m["severity"] == "critical"] == []


def test_both_vantages_partitioned_fail_over_after_the_threshold(two_vantages, fleet, sns):
    db = two_vantages
    service = FailoverService(db)
    ids = make_proxy(service, fleet, "p2", ["primary", "backup"], unhealthy_threshold=2)
    check_round(db)
    # When the primary is dead to both vantages (it really is down)
    fleet.modes["p2-primary"] = "fail"
    check_round(db)
    assert active_of(db, "p2") == ids["primary"]  # one failure each: below the threshold
    check_round(db)
    # Then the majority counts it unhealthy and the proxy fails over
    assert active_of(db, "p2") == ids["backup"]
    assert "failover" in types(drain(sns))


def test_a_vantage_whose_canaries_fail_is_ignored_and_the_other_decides(two_vantages, fleet, sns):
    db = two_vantages
    canary = FleetServer()
    try:
        overrides = {"sweep_canary_urls": canary.url("canary")}
        service = FailoverService(db)
        ids = make_proxy(service, fleet, "p3", ["primary", "backup"], unhealthy_threshold=2)
        check_round(db, **overrides)
        drain(sns)
        # When vantage a goes blind (it reaches neither the targets nor its canary) while b sees well
        fleet.unreachable_from.add(SOURCES["a"])
        canary.unreachable_from.add(SOURCES["a"])
        rounds = [check_round(db, **overrides) for _ in range(3)]
        # Then a's results were thrown away (its verdict never moved), a is impaired, said once
        assert all(r["a"].discarded > 0 and r["a"].checks == 0 for r in rounds)
        primary = next(
            i.instance for i in service.list_instances(OWNER, "p3").items if i.instance.name == "primary"
        )
        assert {v.vantage: v.verdict for v in primary.vantages}["a"] is HealthStatus.HEALTHY
        sent = drain(sns)
        (impaired,) = [m for m in sent if m["type"] == "vantage_impaired"]
        assert (
            impaired["vantage"] == "a" and impaired["severity"] == "warning" and impaired["proxyId"] is None
        )
        safety = SafetyUseCases(db).safety(OWNER)
        assert {v.state.name: v.state.impaired for v in safety.vantages} == {"a": True, "b": False}
        # and b alone decides when the primary dies (a's stale verdict drops out of the majority)
        fleet.modes["p3-primary"] = "fail"
        db.autocommit().run(
            "UPDATE proxy_instances SET vantage_state = jsonb_set(vantage_state, '{a,checkedAt}',"
            " to_jsonb((now() - interval '1 hour')::text)) WHERE vantage_state ? 'a'"
        )
        check_round(db, **overrides)
        check_round(db, **overrides)
        assert active_of(db, "p3") == ids["backup"]
        # When a sees again: restored, once
        canary.unreachable_from.clear()
        check_round(db, **overrides)
        check_round(db, **overrides)
        assert types([m for m in drain(sns) if m["type"].startswith("vantage_")]) == ["vantage_restored"]
    finally:
        canary.close()


def test_the_brake_held_during_a_real_failure_switches_nothing_and_its_release_switches_once(db, fleet, sns):
    service = FailoverService(db)
    brake = SafetyUseCases(db)
    ids = make_proxy(service, fleet, "p4", ["primary", "backup"], unhealthy_threshold=1)
    from tests.integration.test_sweep import sweep

    sweep(db)
    drain(sns)
    # Given the brake held
    held = brake.set_auto_failover(ADMIN, AutoFailover.HELD, "checker network under investigation")
    assert held.state.auto_failover is AutoFailover.HELD and held.state.changed_by == "ops"
    (notice,) = [m for m in drain(sns) if m["type"] == "auto_failover_held"]
    assert notice["severity"] == "critical" and notice["reason"] == "checker network under investigation"
    # When the primary really dies: its status still changes, but nothing switches by itself
    fleet.modes["p4-primary"] = "fail"
    sweep(db)
    sweep(db)
    assert active_of(db, "p4") == ids["primary"]
    primary = next(
        i.instance for i in service.list_instances(OWNER, "p4").items if i.instance.name == "primary"
    )
    assert primary.health_status is HealthStatus.UNHEALTHY
    sent = types(drain(sns))
    assert "instance_unhealthy" in sent and "failover" not in sent
    # and an operator's switch still works, and holding again is no news
    brake.set_auto_failover(ADMIN, AutoFailover.HELD, "still looking")
    assert types(drain(sns)) == []
    # When it is released, the next scheduled run switches what still should, once
    brake.set_auto_failover(ADMIN, AutoFailover.ENABLED, "all clear")
    from proxy_failover.dispatch import dispatch

    done = dispatch(db, settings(), run_id="release", deadline=__import__("time").monotonic() + 1)
    assert done.released >= 1
    assert active_of(db, "p4") == ids["backup"]
    sent = types(drain(sns))
    assert "auto_failover_released" in sent and sent.count("failover") == 1
    dispatch(db, settings(), run_id="again", deadline=__import__("time").monotonic() + 1)
    assert dispatch(db, settings(), run_id="third", deadline=__import__("time").monotonic() + 1).released == 0


def test_an_operators_execute_works_under_the_brake(db, fleet):
    service = FailoverService(db)
    ids = make_proxy(service, fleet, "p5", ["primary", "backup"])
    for i in ids.values():
        service.report_health(OWNER, i, HealthStatus.HEALTHY, None)
    SafetyUseCases(db).set_auto_failover(ADMIN, AutoFailover.HELD, "hold")
    event = service.execute_failover(ADMIN, "p5", ids["primary"], ids["backup"], "by hand")
    assert event.target_instance_id == ids["backup"] and active_of(db, "p5") == ids["backup"]


def test_a_checker_outage_of_500_instances_fails_nothing_over_and_pages_once(two_vantages, sns):
    """Every vantage goes blind at once (targets and canaries unreachable from both): no instance's
    status moves, no proxy fails over or pages; each vantage says it is impaired, and one
    checks_suspended says nothing watches the fleet; when they see again, checks_resumed."""
    db = two_vantages
    import random

    from tests.fleet import FleetProcess, populate

    canary = FleetServer()
    try:
        overrides = {"sweep_canary_urls": canary.url("canary"), "sweep_batch_size": 600}
        with FleetProcess() as fleet:
            populate(db, fleet, random.Random(5), 125, unhealthy_threshold=1, timeout_seconds=2, mix=(0, 0))
            check_round(db, **overrides)  # 500 instances, every one healthy
            drain(sns)
            # When the checkers' network fails: nothing answers them, canaries included
            fleet.blind()
            canary.unreachable_from.update(SOURCES.values())
            for _ in range(3):
                check_round(db, **overrides)
            failovers = db.autocommit().run(
                "SELECT count(*) FROM proxy_failover_events WHERE event_type = 'failover'"
            )
            sent = drain(sns)
            # Then nothing moved, nothing paged about a proxy, and the fleet was told once
            assert failovers == [[0]]
            assert [m for m in sent if m["proxyId"] is not None] == []
            assert sorted(types(sent)) == ["checks_suspended", "vantage_impaired", "vantage_impaired"]
            (suspended,) = [m for m in sent if m["type"] == "checks_suspended"]
            assert suspended["severity"] == "critical"
            # When they see again
            fleet.see()
            canary.unreachable_from.clear()
            check_round(db, **overrides)
            sent = drain(sns)
            assert sorted(types(m for m in sent if m["proxyId"] is None)) == [
                "checks_resumed",
                "vantage_restored",
                "vantage_restored",
            ]
    finally:
        canary.close()


def test_an_owner_with_300_degraded_proxies_at_once_is_paged_once(db):
    """Storms of any critical notice: 300 proxies of one owner degrade in one sweep (both of their
    instances die, so none fails over): one fleet_incident, every other page `warning`. Read from the
    outbox, as it is published (the publishing itself is tested elsewhere; 1,500 messages through
    moto would take a minute)."""
    import random

    from tests.fleet import FleetProcess, populate
    from tests.integration.test_sweep import sweep

    with FleetProcess() as fleet:
        populate(
            db,
            fleet,
            random.Random(9),
            300,
            per_proxy=2,
            unhealthy_threshold=1,
            timeout_seconds=2,
            mix=(0, 0),
        )
        sweep(db, sweep_batch_size=1000)
        fleet.blind()  # every instance dies: every proxy's active one and its backup
        sweep(db, sweep_batch_size=1000)
    sent = db.autocommit().rows_as_dicts("SELECT type, severity, message FROM notification_outbox")
    critical = [m for m in sent if m["severity"] == "critical"]
    assert [m["type"] for m in critical] == ["fleet_incident"], critical[:3]
    (incident,) = critical
    assert incident["message"]["count"] == 300 and len(incident["message"]["proxyIds"]) == 300
    degraded = [m for m in sent if m["type"] == "proxy_degraded"]
    assert len(degraded) == 300 and {m["severity"] for m in degraded} == {"warning"}
    assert {m["message"]["severity"] for m in degraded} == {"warning"}
    assert {m["message"]["fleetIncidentId"] for m in degraded} == {incident["message"]["correlationId"]}
    paging_types = {m["type"] for m in sent if m["message"].get("fleetIncidentId")}
    assert paging_types == {"proxy_degraded", "instance_unhealthy"}  # the active ones' notices too


def test_an_idle_vantage_is_not_absent_and_a_stopped_one_with_work_is(two_vantages, fleet, sns, monkeypatch):
    """A vantage whose dispatcher finds nothing due starts no worker, so it never runs: that is no
    checker outage. One that has work and does not run is absent, and with every vantage so, the
    checks are suspended."""
    import boto3
    from proxy_failover.dispatch import dispatch

    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sns["endpoint"])  # the work queues: no worker ever reads them
    sqs = boto3.client("sqs", region_name="eu-west-1", endpoint_url=sns["endpoint"], config=bounded())
    queues = ",".join(f"{v}={sqs.create_queue(QueueName=f'work-{v}')['QueueUrl']}" for v in SOURCES)
    con = two_vantages.autocommit()
    long_ago = (
        "UPDATE vantages SET last_run_at = now() - interval '1 hour', known_since = now() - interval '1 hour'"
    )
    # Given an empty fleet, and vantages that last ran an hour ago (nothing has been due since)
    con.run(long_ago)
    dispatch(two_vantages, settings(sweep_vantage_queues=queues), run_id="idle", deadline=_soon())
    # Then nothing is suspended and no one is paged
    assert not two_vantages.autocommit().run("SELECT checks_suspended FROM fleet_safety")[0][0]
    assert "checks_suspended" not in types(drain(sns))
    # When a proxy falls due, workers are started, and none of them ever runs
    make_proxy(FailoverService(two_vantages), fleet, "waiting", ["a"])
    con.run("UPDATE proxy_schedule SET next_check_at = now() - interval '1 second'")
    con.run(long_ago)
    dispatch(two_vantages, settings(sweep_vantage_queues=queues), run_id="stuck", deadline=_soon())
    # Then every vantage is absent: checks are suspended, once
    assert two_vantages.autocommit().run("SELECT checks_suspended FROM fleet_safety")[0][0]
    assert types(drain(sns)).count("checks_suspended") == 1


def _soon() -> float:
    import time

    return time.monotonic() + 1
