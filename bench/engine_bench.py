"""Issue 3: database round trips per operation, and health reports per second on local PostgreSQL."""

from __future__ import annotations

import time

from proxy_failover.domain.models import EventStatus, HealthStatus, MetricsSample
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.service import health as health_memory

from bench.common import Figure, fresh_database, report

OWNER = Principal("owner")
ADMIN = Principal("ops", is_admin=True)


def _counted(db, action):
    con = db.connection()
    trips, statements = con.round_trips, con.statements
    result = action()
    con = db.connection()
    return result, con.round_trips - trips, con.statements - statements


def _register(service: FailoverService, proxy: str, name: str, priority: int) -> str:
    return str(
        service.register_instance(
            OWNER,
            proxy,
            {"instance_name": name, "instance_type": "standard", "priority": priority, "weight": 100},
        ).instance.id
    )


def _scenario(db, service: FailoverService, proxy: str) -> list[tuple[str, int, str]]:
    """Every operation once on a fresh proxy, each with the round trips it took."""
    a, trips_register, _ = _counted(db, lambda: _register(service, proxy, "a", 1))
    b = _register(service, proxy, "b", 2)
    service.report_health(OWNER, b, HealthStatus.HEALTHY, None)
    service.report_health(OWNER, a, HealthStatus.HEALTHY, None)
    metrics = MetricsSample(cpu_percent=10.0)
    _, trips_report, _ = _counted(db, lambda: service.report_health(OWNER, a, HealthStatus.HEALTHY, metrics))
    service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None)
    service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None)
    # The worst case: a process that has not answered for this instance before tries the one
    # statement first (one that has goes straight to the engine, a round trip fewer).
    health_memory._last_seen.clear()
    _, trips_failover, _ = _counted(db, lambda: service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None))
    _, trips_evaluate, _ = _counted(db, lambda: service.evaluate(OWNER, proxy))
    _, trips_list, _ = _counted(db, lambda: service.list_instances(OWNER, proxy))
    for _ in range(2):
        service.report_health(OWNER, a, HealthStatus.HEALTHY, None)
    event, trips_execute, _ = _counted(db, lambda: service.execute_failover(ADMIN, proxy, b, a, "bench"))
    done = EventStatus.COMPLETED
    _, trips_complete, _ = _counted(db, lambda: service.complete_event(ADMIN, event.id, done, None, 5))
    _, trips_redundancy, _ = _counted(db, lambda: service.get_redundancy(OWNER, proxy))
    _, trips_events, _ = _counted(db, lambda: service.list_events(OWNER, proxy, 50))
    return [
        ("health report (status unchanged)", trips_report, "1"),
        ("health report that fails the proxy over", trips_failover, "3"),
        ("register instance", trips_register, ""),
        ("evaluate", trips_evaluate, ""),
        ("execute failover", trips_execute, ""),
        ("complete event", trips_complete, ""),
        ("list instances", trips_list, "1"),
        ("get redundancy", trips_redundancy, "1"),
        ("list events", trips_events, "1"),
    ]


def failover_round_trips() -> int:
    """Round trips of a health report that fails its proxy over, every statement prepared (warm)."""
    with fresh_database() as (_, db):
        service = FailoverService(db)
        _scenario(db, service, "cold")
        return dict((name, trips) for name, trips, _ in _scenario(db, service, "warm"))[
            "health report that fails the proxy over"
        ]


def run() -> list[Figure]:
    figures = []
    with fresh_database() as (_, db):
        service = FailoverService(db)

        def register(proxy, name, priority):
            return _register(service, proxy, name, priority)

        def scenario(proxy):
            return _scenario(db, service, proxy)

        scenario("cold")  # prepares every statement once, as the first requests of a Lambda do
        rows = scenario("warm")
        # Every write reads the emergency brake in the statement that reads the proxy: no round trip
        # more than before the brake (1 for a report that changes no status, 5 for one that fails over).
        by_name = {name: trips for name, trips, _ in rows}
        for name, before in (
            ("health report (status unchanged)", 1),
            ("health report that fails the proxy over", 5),
        ):
            figures.append(
                report(
                    Figure(
                        20,
                        f"round trips with the brake read: {name}",
                        str(by_name[name]),
                        f"<= {before + 1} (before the brake: {before})",
                        by_name[name] <= before + 1,
                        "python -m bench.engine_bench",
                    )
                )
            )
        for name, trips, target in rows:
            figures.append(
                report(
                    Figure(
                        3,
                        f"round trips: {name}",
                        str(trips),
                        target,
                        None if not target else trips <= int(target),
                        "make bench",
                    )
                )
            )

        # Reports per second: one client, status unchanged (the common case), through the service.
        fleet = [register("rate", f"r{i}", i) for i in range(20)]
        for i in fleet:
            service.report_health(OWNER, i, HealthStatus.HEALTHY, None)
        n = 5000
        started = time.perf_counter()
        for k in range(n):
            service.report_health(OWNER, fleet[k % 20], HealthStatus.HEALTHY, None)
        rate = n / (time.perf_counter() - started)
        figures.append(
            report(Figure(3, "health reports per second (one connection, in-process)", f"{rate:,.0f}/s"))
        )
    return figures


if __name__ == "__main__":
    run()
