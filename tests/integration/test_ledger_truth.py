"""The ledger tells the truth: every switch of the active instance writes its event, so the newest
switch in the ledger always names the active instance, whatever mix of drills, failures, operators'
switches and completions, deregistrations, registrations and time passing came before. On real
PostgreSQL, through the service and the sweep as the API and the schedule drive them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_failover.domain.models import EventStatus, HealthStatus
from proxy_failover.errors import ProxyFailoverError
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.sweep import Sweeper

from tests.helpers import fresh_fleet

OWNER = Principal("owner")
ADMIN = Principal("ops", is_admin=True)
SWITCHES = ("failover", "failback", "manual", "maintenance", "drill")


class Clock:
    """Time that passes by `tick`, and by a millisecond at every reading (as a real clock moves between
    two transactions: the ledger orders events by their time)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def newest_switch(service: FailoverService, proxy: str) -> dict | None:
    rows = service.db.autocommit().rows_as_dicts(
        "SELECT event_type, source_instance_id, target_instance_id, status FROM proxy_failover_events"
        " WHERE proxy_id = :p AND event_type <> 'recovery' ORDER BY started_at DESC, id DESC LIMIT 1",
        p=proxy,
    )
    return rows[0] if rows else None


def active(service: FailoverService, proxy: str) -> str | None:
    rows = service.db.autocommit().run("SELECT active_instance_id FROM proxies WHERE proxy_id = :p", p=proxy)
    return None if not rows or rows[0][0] is None else str(rows[0][0])


def three_healthy(service: FailoverService, proxy: str) -> list[str]:
    """Instances i0, i1, i2 (priorities 0-2) of `proxy`, reported healthy: their ids."""
    ids = []
    for k in range(3):
        data = {"instance_name": f"i{k}", "instance_type": "standard", "priority": k, "weight": 1}
        ids.append(str(service.register_instance(OWNER, proxy, data).instance.id))
        service.report_health(OWNER, ids[-1], HealthStatus.HEALTHY, None)
    return ids


operations = st.lists(
    st.one_of(
        st.tuples(st.just("fail"), st.integers(0, 3)),
        st.tuples(st.just("heal"), st.integers(0, 3)),
        st.tuples(st.just("drill"), st.integers(10, 60)),
        st.tuples(st.just("execute"), st.integers(0, 3)),
        st.tuples(st.just("complete"), st.integers(0, 1)),
        st.tuples(st.just("deregister"), st.integers(0, 3)),
        st.tuples(st.just("register"), st.integers(0, 3)),
        st.tuples(st.just("maintain"), st.integers(0, 3)),
        st.tuples(st.just("tick"), st.integers(1, 90)),
    ),
    min_size=5,
    max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_the_newest_switch_in_the_ledger_names_the_active_instance(db, ops):
    fresh_fleet(db.connection())
    clock = Clock()
    service = FailoverService(db, clock=clock)
    sweeper = Sweeper(db, clock=clock)
    proxy = "truth"
    service.put_config(
        OWNER, proxy, {"unhealthy_threshold": 1, "healthy_threshold": 1, "failback_hold_down_seconds": 0}
    )
    names: dict[int, str] = {}  # slot -> instance id

    def register(slot: int) -> None:
        data = {"instance_name": f"i{slot}", "instance_type": "standard", "priority": slot, "weight": 1}
        names[slot] = str(service.register_instance(OWNER, proxy, data).instance.id)
        service.report_health(OWNER, names[slot], HealthStatus.HEALTHY, None)

    for slot in range(3):
        register(slot)
    for op, arg in ops:
        clock.tick(1)
        instance = names.get(arg)
        try:
            if op in {"fail", "heal"} and instance:
                status = HealthStatus.UNHEALTHY if op == "fail" else HealthStatus.HEALTHY
                service.report_health(OWNER, instance, status, None)
            elif op == "drill":
                service.start_drill(ADMIN, proxy, None, arg, "rehearsal")
            elif op == "execute" and instance:
                service.execute_failover(ADMIN, proxy, None, instance, "operator", force=True)
            elif op == "complete":
                rows = db.autocommit().run(
                    "SELECT id FROM proxy_failover_events WHERE proxy_id = :p AND status = 'in_progress'"
                    " AND event_type <> 'recovery' ORDER BY started_at DESC",
                    p=proxy,
                )
                if rows:
                    status = EventStatus.COMPLETED if arg else EventStatus.FAILED
                    service.complete_event(ADMIN, str(rows[0][0]), status, None, None)
            elif op == "deregister" and instance:
                service.deregister_instance(OWNER, instance, force=True)
                del names[arg]
            elif op == "register" and instance is None:
                register(arg)
            elif op == "maintain" and instance:
                service.start_maintenance(OWNER, instance, 60, "patch", force=True)
            elif op == "tick":
                clock.tick(arg)
                db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now() - interval '1 second'")
                sweeper.run_once(flush_seconds=0)
        except ProxyFailoverError:
            pass  # a 4xx the API would answer: nothing changed
        current = active(service, proxy)
        switch = newest_switch(service, proxy)
        if current is not None and switch is not None:
            assert str(switch["target_instance_id"]) == current, (op, arg, switch)


def test_a_drill_that_outlives_a_real_failover_writes_its_switch_back(db):
    # Given a drill i0 -> i1, during which i1 fails (failover i1 -> i2)
    clock = Clock()
    service = FailoverService(db, clock=clock)
    service.put_config(OWNER, "d", {"unhealthy_threshold": 1, "failover_strategy": "round_robin"})
    ids = three_healthy(service, "d")
    drill = service.start_drill(ADMIN, "d", ids[1], 30, "rehearsal")
    clock.tick(5)
    service.report_health(OWNER, ids[1], HealthStatus.UNHEALTHY, None)
    assert active(service, "d") == ids[2]
    # When the drill's time is up
    clock.tick(60)
    Sweeper(db, clock=clock).conclude_due()
    # Then the proxy is back on i0 and the ledger's newest switch says so
    assert active(service, "d") == ids[0]
    switch = newest_switch(service, "d")
    assert switch is not None and (str(switch["source_instance_id"]), str(switch["target_instance_id"])) == (
        ids[2],
        ids[0],
    )
    events = {e.id: e for e in service.list_events(OWNER, "d", 10).items}
    assert events[drill.id].status == "completed"


@pytest.mark.parametrize("how", ["execute", "deregister"])
def test_an_operators_switch_during_a_drill_ends_it_where_it_stands(db, how):
    clock = Clock()
    service = FailoverService(db, clock=clock)
    ids = three_healthy(service, "op")
    drill = service.start_drill(ADMIN, "op", ids[1], 30, "rehearsal")
    clock.tick(5)
    # When an operator moves the proxy meanwhile
    if how == "execute":
        event = service.execute_failover(ADMIN, "op", ids[1], ids[2], "operator")
        assert event.status == "in_progress"
    else:
        service.deregister_instance(OWNER, ids[1], force=True)
    moved_to = active(service, "op")
    assert moved_to != ids[1]
    # Then the drill is over (its event failed, saying why), and its time passing moves nothing
    events = {e.id: e for e in service.list_events(OWNER, "op", 10).items}
    assert events[drill.id].status == "failed" and "ended early" in (events[drill.id].error_message or "")
    clock.tick(60)
    Sweeper(db, clock=clock).conclude_due()
    assert active(service, "op") == moved_to
    assert str(newest_switch(service, "op")["target_instance_id"]) == moved_to


def test_registering_after_every_instance_left_writes_the_adoption(db):
    service = FailoverService(db)
    data = {"instance_type": "standard", "priority": 1, "weight": 1}
    first = str(service.register_instance(OWNER, "again", {**data, "instance_name": "a"}).instance.id)
    assert newest_switch(service, "again") is None  # a proxy's very first instance: nothing to record
    service.deregister_instance(OWNER, first)
    # When the proxy is given an instance again
    second = str(service.register_instance(OWNER, "again", {**data, "instance_name": "b"}).instance.id)
    # Then it is active, and the ledger says how it became so
    assert active(service, "again") == second
    switch = newest_switch(service, "again")
    assert (
        switch is not None
        and switch["event_type"] == "manual"
        and str(switch["target_instance_id"]) == second
    )
