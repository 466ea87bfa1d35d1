"""`decide`, without I/O: a writer's step applied to a proxy as read, into the change the store writes
(instances, switch and ledger events, closures, posture, drill, config version, notices)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from proxy_failover.domain.change import Check, Completion, Step, decide
from proxy_failover.domain.models import (
    Drill,
    EventStatus,
    EventType,
    FailoverConfig,
    HealthStatus,
    Instance,
    LedgerEvent,
    Maintenance,
    MetricsSample,
    ProxyAggregate,
    Redundancy,
    Switch,
)
from proxy_failover.domain.notices import NoticeType
from proxy_failover.domain.redundancy import assess

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H, U = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY


def ids():
    numbers = count(1)
    return lambda: f"event-{next(numbers)}"


def inst(name: str, priority: int, status: HealthStatus = H, **more) -> Instance:
    return Instance(name, "p", name, priority=priority, health_status=status, created_at=T0, **more)


DEFAULTS = FailoverConfig()


def proxy(instances, active="a", *, drill=None, config=DEFAULTS, posture=True) -> ProxyAggregate:
    previous = assess(instances, active, config.failover_strategy) if posture else None
    return ProxyAggregate("p", "owner", active, config, T0, previous, list(instances), drill)


def run(aggregate, step, now=T0 + timedelta(minutes=5), actor="system"):
    return decide(aggregate, step, now=now, actor=actor, new_id=ids())


def test_a_report_that_kills_the_active_fails_over_with_its_event_and_notices():
    aggregate = proxy([inst("a", 1, consecutive_failures=2), inst("b", 2)], config=FailoverConfig())
    change = run(aggregate, Step(checks={"a": Check(U, metrics=MetricsSample(cpu_percent=99.0))}))
    assert change.active_instance_id == "b" and change.active_changed
    assert change.event is not None and change.event.event_type == "failover"
    assert (change.event.source_instance_id, change.event.target_instance_id) == ("a", "b")
    # the switch's event, and the dead instance's recovery cycle opened
    assert [e.event_type for e in change.events] == ["failover", "recovery"] and change.events[
        0
    ] == change.event
    assert [i.id for i in change.changed] == ["a"] and change.changed[0].health_status is U
    assert change.metrics == [("a", MetricsSample(cpu_percent=99.0))]
    kinds = [n.type for n in change.notices]
    assert NoticeType.FAILOVER in kinds and NoticeType.INSTANCE_UNHEALTHY in kinds
    failover = next(n for n in change.notices if n.type is NoticeType.FAILOVER)
    assert failover.details["eventId"] == change.event.id and failover.details["actor"] == "system"


def test_a_drills_switch_back_writes_its_own_event_and_completes_the_drill():
    drill = Drill("drill-1", T0 + timedelta(minutes=1), "a")
    aggregate = proxy([inst("a", 1), inst("b", 2)], active="b", drill=drill)
    change = run(aggregate, Step())
    assert change.active_instance_id == "a"
    assert change.event is not None and change.event.event_type == EventType.FAILBACK.value
    assert change.event.reason == "drill over: back to a"
    assert [(c.event_id, c.status) for c in change.closures] == [("drill-1", EventStatus.COMPLETED)]
    assert change.drill is None and change.drill_changed
    back = next(n for n in change.notices if n.type is NoticeType.FAILBACK)
    assert back.drill and back.correlation_id == "drill-1" and back.details["eventId"] == change.event.id


def test_a_drill_still_running_holds_failback_and_changes_nothing():
    drill = Drill("drill-1", T0 + timedelta(hours=1), "a")
    aggregate = proxy([inst("a", 1, consecutive_successes=5), inst("b", 2)], active="b", drill=drill)
    change = run(aggregate, Step())
    assert change.switch is None and change.drill == drill and not change.drill_changed


def test_an_operators_switch_during_a_drill_ends_the_drill_where_it_stands():
    drill = Drill("drill-1", T0 + timedelta(hours=1), "a")
    aggregate = proxy([inst("a", 1), inst("b", 2), inst("c", 3)], active="b", drill=drill)
    switch = Switch(EventType.MANUAL, "b", "c", "operator")
    change = run(aggregate, Step(requested=switch, event_status=EventStatus.IN_PROGRESS), actor="ops")
    assert (
        change.active_instance_id == "c" and change.event is not None and change.event.status == "in_progress"
    )
    (closed,) = change.closures
    assert (
        closed.event_id == "drill-1" and closed.status is EventStatus.FAILED and "ops" in (closed.error or "")
    )
    assert change.drill is None and change.drill_changed
    assert NoticeType.DRILL_FAILED in [n.type for n in change.notices]


def test_completing_the_drills_event_by_hand_ends_the_drill_with_no_switch_back():
    drill = Drill("drill-1", T0 + timedelta(minutes=1), "a")
    event = LedgerEvent("drill-1", "p", "drill", "in_progress", "a", "b", "q", "ops", T0)
    aggregate = proxy([inst("a", 1), inst("b", 2)], active="b", drill=drill)
    now = T0 + timedelta(minutes=5)
    change = run(aggregate, Step(completion=Completion(event, EventStatus.COMPLETED, None, None)), now=now)
    assert change.switch is None and change.active_instance_id == "b" and change.drill is None
    assert change.completed is not None and change.completed.status == "completed"
    assert change.completed.duration_ms == 5 * 60 * 1000 and change.completed.completed_at == now
    assert [(c.event_id, c.duration_ms) for c in change.closures] == [("drill-1", 300_000)]


def test_the_first_instance_of_a_proxy_is_active_with_no_event_and_a_later_adoption_has_one():
    fresh = ProxyAggregate("p", "owner", None, FailoverConfig(), None, None, [])
    first = run(fresh, Step(allow_automatic=False, added=inst("a", 1, HealthStatus.UNKNOWN)))
    assert first.active_instance_id == "a" and first.event is None
    emptied = Redundancy(0, 0, 0, None, (), "none", False)
    again = ProxyAggregate("p", "owner", None, FailoverConfig(), T0, emptied, [])
    second = run(again, Step(allow_automatic=False, added=inst("b", 1, HealthStatus.UNKNOWN)), actor="user-a")
    assert second.active_instance_id == "b"
    assert second.event is not None and second.event.event_type == "manual" and second.event.actor == "user-a"


def test_the_first_config_version_lists_the_fields_that_have_a_value():
    fresh = ProxyAggregate("p", "owner", None, FailoverConfig(), None, None, [])
    change = run(fresh, Step(allow_automatic=False, config=FailoverConfig(unhealthy_threshold=5)))
    assert change.config_version is not None
    assert change.config_version.changes["unhealthy_threshold"] == {"from": None, "to": 5}
    assert "report_ttl_seconds" not in change.config_version.changes
    again = fresh._replace(config=FailoverConfig(unhealthy_threshold=5), config_created_at=T0)
    assert (
        run(again, Step(allow_automatic=False, config=FailoverConfig(unhealthy_threshold=5))).config_version
        is None
    )


def test_a_write_ends_maintenance_whose_time_is_up_whatever_its_edit():
    away = Maintenance(T0 + timedelta(minutes=1), "patch", "u")
    aggregate = proxy([inst("a", 1), inst("b", 2, maintenance=away)])
    change = run(aggregate, Step(allow_automatic=False, edit=lambda xs: [i._replace(weight=7) for i in xs]))
    b = change.instance("b")
    assert b.maintenance is None and b.weight == 7
    assert change.posture is not None and change.posture.backup_instance_ids == ("b",)
    assert NoticeType.MAINTENANCE_ENDED in [n.type for n in change.notices]


def test_deregistering_an_instance_in_a_recovery_cycle_closes_the_cycle():
    aggregate = proxy([inst("a", 1), inst("b", 2, U, recovery_attempts=1)])
    change = run(aggregate, Step(allow_automatic=False, edit=lambda xs: [i for i in xs if i.id != "b"]))
    assert change.removed == ["b"]
    assert [(c.recovery_of, c.status) for c in change.closures] == [("b", EventStatus.FAILED)]
