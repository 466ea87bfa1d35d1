"""Races: four sweeps at once over 10,000 instances, and an API failover racing an automatic one."""

from __future__ import annotations

import random
import threading
import time

import pytest
from proxy_failover.domain.models import HealthStatus, MetricsSample
from proxy_failover.errors import SourceNotActive
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.settings import Settings
from proxy_failover.store import remembered
from proxy_failover.store.db import Database
from proxy_failover.sweep import Sweeper

from tests.fleet import FleetProcess, populate
from tests.helpers import closing_thread

OWNER = Principal("owner")
ADMIN = Principal("ops", is_admin=True)


def test_four_sweeps_at_once_over_ten_thousand_instances(db):
    # A generous probe timeout: four sweeps share two cores with the fleet, and an answer that is late
    # would read as a failure (the outcome checks below count on healthy answers being healthy).
    with FleetProcess() as fleet:
        urls = populate(db, fleet, random.Random(11), 2500, unhealthy_threshold=1, timeout_seconds=5)
        started = db.autocommit().run("SELECT now()")[0][0]
        settings = Settings.from_environ({"PROBE_ALLOW_LOOPBACK": "true", "SWEEP_BATCH_SIZE": "300"})
        barrier = threading.Barrier(4)
        checks: list[int] = []
        errors: list[BaseException] = []

        def sweep() -> None:
            sweeper = Sweeper(db, settings=settings)
            barrier.wait()
            try:
                checks.append(sweeper.run_once().checks)
            except BaseException as exc:
                errors.append(exc)

        threads = [closing_thread(db, sweep) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        hits = fleet.hits

    assert not errors
    assert sum(checks) == len(urls) == 10_000
    assert len([c for c in checks if c > 0]) >= 2  # the work really was split
    con = db.autocommit()
    # Each instance was checked exactly once: the fleet received 10,000 requests and every instance
    # recorded a check (a second probe of one would leave another without), and the counters moved
    # by one check: healthy ones from 2 successes to 3, the others from 0 failures to 1.
    assert hits == 10_000
    unchecked = con.run(
        "SELECT count(*) FROM proxy_instances WHERE last_health_check IS NULL OR last_health_check < :t",
        t=started,
    )[0][0]
    assert unchecked == 0
    # Each instance's counters moved by exactly one check, whatever it found: on a busy machine a
    # healthy instance's answer may come after the timeout and count as a failure, which is the probe's
    # verdict, not a second check. Healthy ones: 2 successes -> 3 (answered) or 1 failure (late);
    # failing ones: 0 failures -> 1.
    moved_twice_or_never = con.run(
        "SELECT count(*) FROM proxy_instances WHERE NOT ("
        " (health_check_url LIKE '%/ok/%' AND ((consecutive_successes = 3 AND consecutive_failures = 0)"
        "   OR (consecutive_successes = 0 AND consecutive_failures = 1)))"
        " OR (health_check_url NOT LIKE '%/ok/%' AND consecutive_failures = 1 AND consecutive_successes = 0))"
    )[0][0]
    assert moved_twice_or_never == 0
    duplicate_events = con.run(
        "SELECT count(*) FROM (SELECT proxy_id FROM proxy_failover_events WHERE event_type = 'failover'"
        " GROUP BY proxy_id HAVING count(*) > 1) d"
    )[0][0]
    assert duplicate_events == 0
    # A proxy failed over exactly when this check took its primary down and found a backup healthy,
    # judged by what the checks recorded (not by what the fleet meant to answer).
    failovers = con.run("SELECT count(*) FROM proxy_failover_events WHERE event_type = 'failover'")[0][0]
    expected = con.run(
        "SELECT count(*) FROM proxies p JOIN proxy_instances a ON a.proxy_id = p.proxy_id AND a.priority = 0"
        " WHERE a.consecutive_failures = 1 AND EXISTS (SELECT 1 FROM proxy_instances b"
        " WHERE b.proxy_id = p.proxy_id AND b.id <> a.id AND b.health_status = 'healthy')"
    )[0][0]
    assert failovers == expected > 100
    duplicate_notices = con.run(
        "SELECT count(*) FROM (SELECT type, proxy_id, message->>'instanceId' FROM notification_outbox"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
    )[0][0]
    assert duplicate_notices == 0


def race(service: FailoverService, proxy: str, source: str, operator_target: str) -> list[str]:
    """The report that takes `source` down and an operator's switch away from it, released together."""
    barrier = threading.Barrier(2)
    api_result: list[str] = []

    def automatic() -> None:
        barrier.wait()
        service.report_health(OWNER, source, HealthStatus.UNHEALTHY, None)

    def operator() -> None:
        barrier.wait()
        try:
            service.execute_failover(ADMIN, proxy, source, operator_target, "operator")
            api_result.append("won")
        except SourceNotActive:
            api_result.append("409")

    threads = [closing_thread(service.db, automatic), closing_thread(service.db, operator)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return api_result


def test_an_api_failover_racing_an_automatic_one_has_one_winner(db):
    service = FailoverService(db)
    outcomes = {"api": 0, "automatic": 0}
    for round_ in range(15):
        proxy = f"race-{round_}"
        service.put_config(OWNER, proxy, {"unhealthy_threshold": 2})
        a, b, c = (
            str(
                service.register_instance(
                    OWNER,
                    proxy,
                    {"instance_name": n, "instance_type": "standard", "priority": k, "weight": 1},
                ).instance.id
            )
            for k, n in enumerate("abc")
        )
        for instance in (a, b, c):
            service.report_health(OWNER, instance, HealthStatus.HEALTHY, None)
        service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None)  # one failure short of the threshold
        api_result = race(service, proxy, a, c)
        events = db.autocommit().rows_as_dicts(
            "SELECT actor, source_instance_id, target_instance_id FROM proxy_failover_events"
            " WHERE proxy_id = :p AND event_type = 'failover'",
            p=proxy,
        )
        assert len(events) == 1, events  # one switch away from a, whoever won
        assert str(events[0]["source_instance_id"]) == a
        if api_result == ["won"]:
            assert events[0]["actor"] == "ops" and str(events[0]["target_instance_id"]) == c
            outcomes["api"] += 1
        else:
            assert api_result == ["409"]
            assert events[0]["actor"] == "system" and str(events[0]["target_instance_id"]) == b
            outcomes["automatic"] += 1
    assert sum(outcomes.values()) == 15


def run_together(db, count: int, work) -> list[object]:
    """`work(k)` in `count` threads released at once; each result, or the exception it raised."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(k: int) -> None:
        barrier.wait()
        try:
            results[k] = work(k)
        except Exception as exc:
            results[k] = exc

    threads = [closing_thread(db, run, k) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_all_first_writes_of_one_owner_succeed_and_another_owner_gets_not_found(db):
    from proxy_failover.errors import ProxyNotFound

    service = FailoverService(db)
    # Given 20 first configurations of a new proxy at once by its owner: every one is stored
    results = run_together(
        db, 20, lambda k: service.put_config(OWNER, "fresh-1", {"unhealthy_threshold": 1 + k % 3})
    )
    assert not any(isinstance(r, Exception) for r in results), results
    # And 20 first registrations at once on another new proxy: all registered, exactly one active
    data = {"instance_type": "standard", "priority": 1, "weight": 1}
    results = run_together(
        db, 20, lambda k: service.register_instance(OWNER, "fresh-2", {**data, "instance_name": f"i{k}"})
    )
    assert not any(isinstance(r, Exception) for r in results), results
    listed = service.list_instances(OWNER, "fresh-2").items
    assert len(listed) == 20 and sum(1 for i in listed if i.is_active) == 1
    # When another owner writes to them, it is told they do not exist
    stranger = Principal("stranger")
    for proxy in ("fresh-1", "fresh-2"):
        with pytest.raises(ProxyNotFound):
            service.put_config(stranger, proxy, {})
        with pytest.raises(ProxyNotFound):
            service.register_instance(stranger, proxy, {**data, "instance_name": "x"})


def test_the_ledger_is_stamped_under_the_lock_so_newest_first_follows_the_switches(db):
    import os
    from datetime import UTC, datetime

    owner_service = FailoverService(db)
    # least connections, a the busiest: a failover away from c goes to b
    owner_service.put_config(
        OWNER, "order", {"unhealthy_threshold": 1, "failover_strategy": "least_connections"}
    )
    ids = []
    for k, name in enumerate("abc"):
        data = {"instance_name": name, "instance_type": "standard", "priority": k, "weight": 1}
        ids.append(str(owner_service.register_instance(OWNER, "order", data).instance.id))
        owner_service.report_health(
            OWNER, ids[-1], HealthStatus.HEALTHY, MetricsSample(connection_count=100 if name == "a" else 0)
        )
    a, b, c = ids
    reporter = FailoverService(db)
    report = closing_thread(db, lambda: reporter.report_health(OWNER, c, HealthStatus.UNHEALTHY, None))
    watcher = Database.from_url(os.environ["DATABASE_URL"])

    def operator_clock() -> datetime:
        """The operator's time, read under its lock (as every writer's is) once a report that will
        take c down has been sent and waits for that lock: the report began before the time the
        operator's switch is stamped with, and switches after it."""
        report.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        deadline = time.monotonic() + 10
        while watcher.connection().run(waiting) == [[0]] and time.monotonic() < deadline:
            time.sleep(0.005)
        return datetime.now(UTC)

    # Given an operator switching a -> c, whose lock is held when a report that takes c down is sent
    # (the locked path, whose time is read under the lock: this process forgets its copies)
    remembered.forget_all()
    owner_service.clock = operator_clock
    try:
        owner_service.execute_failover(ADMIN, "order", a, c, "operator")
        report.join()
    finally:
        watcher.discard()
    # Then the report, stamped under the lock after the switch, failed the proxy over c -> b, and the
    # ledger read newest first is the chain of switches, each starting where the last ended
    chain = [
        (e.source_instance_id, e.target_instance_id)
        for e in owner_service.list_events(OWNER, "order", 10).items
        if e.event_type in {"failover", "manual"}
    ]
    assert chain == [(c, b), (a, c)], chain


def test_a_switch_decided_on_a_copy_that_another_switch_made_stale_is_stamped_after_it(db):
    """A write on the process's copy reads its time before its lock (`store.remembered`): a switch
    that commits in between changes the proxy row, so the guard sends the write back to the locked
    path, which stamps it after that switch."""
    from datetime import UTC, datetime

    service = FailoverService(db)
    ids = []
    for k, name in enumerate("abc"):
        data = {"instance_name": name, "instance_type": "standard", "priority": k, "weight": 1}
        ids.append(str(service.register_instance(OWNER, "stale", data).instance.id))
        service.report_health(OWNER, ids[-1], HealthStatus.HEALTHY, None)
    a, b, c = ids
    assert remembered.recall("stale") is not None
    other = FailoverService(db)
    times = []

    def clock_then_another_switch():
        times.append(datetime.now(UTC))
        if len(times) == 1:  # read on the copy: another process switches a -> b before the guard
            copy = remembered.recall("stale")
            remembered.forget_all()
            switch = closing_thread(db, lambda: other.execute_failover(ADMIN, "stale", a, b, "other"))
            switch.start()
            switch.join()
            remembered._proxies["stale"] = copy
        return times[-1]

    service.clock = clock_then_another_switch
    service.execute_failover(ADMIN, "stale", None, c, "operator")
    assert len(times) == 2  # the copy's decision was refused by the guard, then made under the lock
    chain = [
        (e.source_instance_id, e.target_instance_id)
        for e in service.list_events(OWNER, "stale", 10).items
        if e.event_type in {"failover", "manual"}
    ]
    assert chain == [(b, c), (a, b)], chain


def test_admins_setting_the_active_instance_at_once_all_succeed(db):
    service = FailoverService(db)
    ids = []
    for k, name in enumerate("ab"):
        data = {"instance_name": name, "instance_type": "standard", "priority": k, "weight": 1}
        ids.append(str(service.register_instance(OWNER, "same", data).instance.id))
        service.report_health(OWNER, ids[-1], HealthStatus.HEALTHY, None)
    results = run_together(db, 10, lambda k: service.put_redundancy(ADMIN, "same", ids[1], "move", False))
    assert not any(isinstance(r, Exception) for r in results), results
    assert all(r.redundancy.active_instance_id == ids[1] for r in results)
    switches = db.autocommit().run("SELECT count(*) FROM proxy_failover_events WHERE event_type = 'manual'")
    assert switches == [[1]]


def test_health_reports_racing_the_deregistration_of_their_instance_are_200_or_404(db):
    from proxy_failover.errors import InstanceNotFound

    service = FailoverService(db)
    unexpected: list[object] = []
    for trial in range(16):
        proxy = f"gone-{trial}"
        service.put_config(OWNER, proxy, {"unhealthy_threshold": 1, "healthy_threshold": 1})
        data = {"instance_type": "standard", "priority": 1, "weight": 1}
        keep = str(service.register_instance(OWNER, proxy, {**data, "instance_name": "keep"}).instance.id)
        doomed = str(service.register_instance(OWNER, proxy, {**data, "instance_name": "doomed"}).instance.id)
        service.report_health(OWNER, keep, HealthStatus.HEALTHY, None)

        def work(k: int, doomed: str = doomed) -> object:
            if k == 0:
                return service.deregister_instance(OWNER, doomed)
            # status-changing reports take the engine's path; keyed ones always do
            status = HealthStatus.HEALTHY if k % 2 else HealthStatus.UNHEALTHY
            key = f"key-{k}" if k % 3 == 0 else None
            return service.report_health(OWNER, doomed, status, None, idempotency_key=key)

        results = run_together(db, 8, work)
        unexpected += [r for r in results if isinstance(r, Exception) and not isinstance(r, InstanceNotFound)]
    assert not unexpected, unexpected


def test_completing_a_drill_event_as_the_drill_ends_is_no_deadlock(db):
    from datetime import UTC, datetime, timedelta

    from proxy_failover.domain.models import EventStatus
    from proxy_failover.errors import EventAlreadyCompleted
    from proxy_failover.sweep import Sweeper

    service = FailoverService(db)
    failures: list[object] = []
    for trial in range(12):
        proxy = f"drill-end-{trial}"
        data = {"instance_type": "standard", "weight": 1}
        ids = [
            str(
                service.register_instance(
                    OWNER, proxy, {**data, "instance_name": n, "priority": k}
                ).instance.id
            )
            for k, n in enumerate("ab")
        ]
        for i in ids:
            service.report_health(OWNER, i, HealthStatus.HEALTHY, None)
        event = service.start_drill(ADMIN, proxy, None, 10, "rehearsal")
        # the drill is due: the scheduled run ends it while an operator completes its event
        db.autocommit().run(
            "UPDATE proxies SET drill_until = :t WHERE proxy_id = :p",
            t=datetime.now(UTC) - timedelta(seconds=1),
            p=proxy,
        )
        sweeper = Sweeper(db)

        def work(k: int, event_id: str = event.id, sweeper: Sweeper = sweeper) -> object:
            if k == 0:
                return sweeper.conclude_due()
            return service.complete_event(ADMIN, event_id, EventStatus.COMPLETED, None, None)

        results = run_together(db, 2, work)
        failures += [
            r for r in results if isinstance(r, Exception) and not isinstance(r, EventAlreadyCompleted)
        ]
    assert not failures, failures
