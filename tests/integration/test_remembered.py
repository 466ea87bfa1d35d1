"""Writes decided on the process's memory of a proxy (`store.remembered`): the copy is what a read
returns after every kind of write, a write on it is one round trip, and whatever changed the proxy
since (another process's report, the brake, a tenant it is not visible to) is caught by the guard
and decided again on a read."""

from __future__ import annotations

import threading

import pytest
from proxy_failover.domain.models import EventStatus, HealthStatus, MetricsSample
from proxy_failover.errors import ProxyNotFound, SourceNotActive
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.store import aggregate as proxy_state
from proxy_failover.store import locks, remembered

from tests.helpers import closing_thread

OWNER = Principal("owner")
ADMIN = Principal("ops", is_admin=True)


@pytest.fixture(autouse=True)
def no_memory():
    remembered.forget_all()
    yield
    remembered.forget_all()


def _data(name, priority):
    return {"instance_name": name, "instance_type": "standard", "priority": priority, "weight": 100}


def _fleet(service, proxy_id, n, config=None):
    service.put_config(OWNER, proxy_id, config or {"unhealthy_threshold": 1, "healthy_threshold": 1})
    ids = [str(service.register_instance(OWNER, proxy_id, _data(f"i{k}", k)).instance.id) for k in range(n)]
    for i in ids:
        service.report_health(OWNER, i, HealthStatus.HEALTHY, None)
    return ids


def _as_read(db, proxy_id):
    """The proxy and its row versions as a writer reads them after its lock."""
    with db.transaction() as con:
        locks.lock_proxy(con, proxy_id, ADMIN)
        con.prefetched.clear()  # read in a statement of its own, after the lock
        (read,) = proxy_state.read_locked(con, [proxy_id])
        return read, con.versions[proxy_id]


def _assert_remembered_as_read(db, proxy_id):
    found = remembered.recall(proxy_id)
    assert found is not None
    read, versions = _as_read(db, proxy_id)
    assert found.aggregate == read
    assert found.versions == versions


def _trips(db, write):
    con = db.connection()
    before = con.round_trips
    write()
    return con.round_trips - before


def test_the_copy_is_what_a_read_returns_after_every_kind_of_write(db):
    service = FailoverService(db)
    a, b, c = _fleet(service, "kinds", 3)
    _assert_remembered_as_read(db, "kinds")
    writes = [
        lambda: service.report_health(
            OWNER, b, HealthStatus.UNHEALTHY, MetricsSample(average_latency_ms=12.5)
        ),
        lambda: service.report_health(OWNER, b, HealthStatus.HEALTHY, None),  # keeps the stored latency
        lambda: service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None),  # fails over: a switch
        lambda: service.put_config(
            OWNER, "kinds", {"failover_strategy": "round_robin", "unhealthy_threshold": 2}
        ),
        lambda: service.update_instance(OWNER, c, {"weight": 7, "instance_name": "renamed"}),
        lambda: service.start_maintenance(OWNER, c, 600, "patching", force=True),
        lambda: service.end_maintenance(OWNER, c),
        lambda: service.register_instance(OWNER, "kinds", _data("late", 9)),
        lambda: service.report_health(OWNER, a, HealthStatus.HEALTHY, MetricsSample(connection_count=4)),
        lambda: service.start_drill(OWNER, "kinds", None, 300, "game day"),
        lambda: service.put_config(
            OWNER, "kinds", {"enable_load_balancing": True, "load_balancing_algorithm": "least_connections"}
        ),
        lambda: service.report_health(OWNER, c, HealthStatus.HEALTHY, MetricsSample(connection_count=9)),
        lambda: service.deregister_instance(OWNER, c, force=True),
    ]
    for k, write in enumerate(writes):
        write()
        try:
            _assert_remembered_as_read(db, "kinds")
        except AssertionError as exc:
            raise AssertionError(f"after write {k}: {exc}") from exc


def test_a_status_change_on_the_copy_is_one_round_trip_and_a_stale_copy_is_read_again(db):
    service = FailoverService(db)
    a, b = _fleet(service, "trips", 2)
    flips = [HealthStatus.UNHEALTHY, HealthStatus.HEALTHY] * 2
    for status in flips:  # every statement prepared
        service.report_health(OWNER, b, status, None)
    assert _trips(db, lambda: service.report_health(OWNER, b, HealthStatus.UNHEALTHY, None)) == 1
    stale = []
    for status in (HealthStatus.HEALTHY, HealthStatus.UNHEALTHY):
        # Another process reports the active instance (its one-statement path): the copy is now stale.
        db.autocommit().run(
            "UPDATE proxy_instances SET reports_recorded = reports_recorded + 1 WHERE id = CAST(:id AS uuid)",
            id=a,
        )
        stale.append(_trips(db, lambda status=status: service.report_health(OWNER, b, status, None)))
        _assert_remembered_as_read(db, "trips")
    # the guard fails (1), then the lock and read (1) and the write (1); the first time, the lock's and
    # the write's statements were also prepared on this connection
    assert stale[1] == 3
    assert _trips(db, lambda: service.report_health(OWNER, b, HealthStatus.HEALTHY, None)) == 1
    read, _ = _as_read(db, "trips")
    assert next(i for i in read.instances if i.id == b).health_status is HealthStatus.HEALTHY


def test_a_brake_held_since_the_copy_stops_the_failover_it_would_have_made(db):
    service = FailoverService(db)
    a, _b = _fleet(service, "braked", 2)
    assert remembered.recall("braked").aggregate.automatic_held is False
    db.autocommit().run("UPDATE fleet_safety SET auto_failover = 'held'")  # by another process
    service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None)
    read, _ = _as_read(db, "braked")
    assert read.active_instance_id == a  # held: nothing switched by itself
    assert remembered.recall("braked").aggregate.automatic_held is True


def test_a_caller_the_proxy_is_not_visible_to_gets_not_found_whatever_the_process_remembers(db):
    service = FailoverService(db)
    a, b = _fleet(service, "mine", 2)
    stranger = Principal("stranger")
    with pytest.raises(ProxyNotFound):
        service.execute_failover(stranger, "mine", a, b, "not yours")
    with pytest.raises(ProxyNotFound):
        service.register_instance(stranger, "mine", _data("intruder", 5))
    read, _ = _as_read(db, "mine")
    assert read.active_instance_id == a and len(read.instances) == 2


def test_a_refusal_on_the_copy_is_decided_again_on_a_read(db):
    """The copy says the source is not active (another process switched); the read says it is."""
    service = FailoverService(db)
    a, b = _fleet(service, "refused", 2)
    service.execute_failover(ADMIN, "refused", a, b, "to b")
    # another process switches back: this process still remembers b active
    other = remembered.recall("refused")
    remembered.forget_all()
    service.execute_failover(ADMIN, "refused", b, a, "back to a")
    remembered._proxies["refused"] = other
    service.execute_failover(ADMIN, "refused", a, b, "from a, as the read shows")
    read, _ = _as_read(db, "refused")
    assert read.active_instance_id == b


def test_concurrent_switches_from_remembered_copies_make_one_switch(db):
    service = FailoverService(db)
    ids = _fleet(service, "race", 4)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(k: int) -> None:
        barrier.wait()
        try:
            service.execute_failover(ADMIN, "race", ids[0], ids[1 + k % 3], f"attempt {k}")
            outcomes.append("won")
        except SourceNotActive:
            outcomes.append("conflict")

    threads = [closing_thread(db, attempt, k) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    events = db.autocommit().run(
        "SELECT count(*) FROM proxy_failover_events WHERE proxy_id = 'race' AND event_type = 'failover'"
    )
    assert events[0][0] == 1
    # the losers' guards found the copy stale and dropped it; the next write remembers again
    service.report_health(OWNER, ids[2], HealthStatus.UNHEALTHY, None)
    _assert_remembered_as_read(db, "race")


def test_a_completion_after_a_remembered_switch_finds_its_event(db):
    service = FailoverService(db)
    a, b = _fleet(service, "done", 2)
    event = service.execute_failover(ADMIN, "done", a, b, "switch")
    completed = service.complete_event(ADMIN, event.id, EventStatus.COMPLETED, None, 5)
    assert completed.status == EventStatus.COMPLETED
    _assert_remembered_as_read(db, "done")


def test_an_event_this_process_opened_is_completed_in_one_round_trip_unless_finished_elsewhere(db):
    from proxy_failover.errors import EventAlreadyCompleted

    service = FailoverService(db)
    a, b = _fleet(service, "opened", 2)
    for source, target in ((a, b), (b, a)):  # every statement prepared
        event = service.execute_failover(ADMIN, "opened", source, target, "warm")
        service.complete_event(ADMIN, event.id, EventStatus.COMPLETED, None, 5)
    event = service.execute_failover(ADMIN, "opened", a, b, "switch")
    assert remembered.open_event(event.id) is not None
    assert _trips(db, lambda: service.complete_event(ADMIN, event.id, EventStatus.COMPLETED, None, 5)) == 1
    assert remembered.open_event(event.id) is None
    _assert_remembered_as_read(db, "opened")
    # Completed by another process meanwhile: the guard sees it, the read says 409.
    event = service.execute_failover(ADMIN, "opened", b, a, "back")
    db.autocommit().run(
        "UPDATE proxy_failover_events SET status = 'failed', completed_at = now() WHERE id = CAST(:id AS uuid)",
        id=event.id,
    )
    with pytest.raises(EventAlreadyCompleted):
        service.complete_event(ADMIN, event.id, EventStatus.COMPLETED, None, 5)
    status = db.autocommit().run(
        "SELECT status FROM proxy_failover_events WHERE id = CAST(:id AS uuid)", id=event.id
    )
    assert status[0][0] == "failed"


def test_concurrent_completions_of_a_remembered_event_complete_it_once(db):
    from proxy_failover.errors import EventAlreadyCompleted

    service = FailoverService(db)
    a, b = _fleet(service, "twice", 2)
    event = service.execute_failover(ADMIN, "twice", a, b, "switch")
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def complete(k: int) -> None:
        barrier.wait()
        try:
            service.complete_event(ADMIN, event.id, EventStatus.COMPLETED, None, k)
            outcomes.append("completed")
        except EventAlreadyCompleted:
            outcomes.append("409")

    threads = [closing_thread(db, complete, k) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409"] * 5 + ["completed"]
