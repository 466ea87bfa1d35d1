"""The engine on real PostgreSQL: one switch per race, no partial state, SQL fast path == domain."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_failover import engine
from proxy_failover.domain.health import apply_check
from proxy_failover.domain.models import FailoverConfig, HealthStatus, MetricsSample, Strategy
from proxy_failover.domain.redundancy import assess
from proxy_failover.errors import ConstraintViolation, SourceNotActive
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.store import aggregate as proxy_state
from proxy_failover.store import reads
from proxy_failover.store.changes import OutboxRow

from tests.helpers import closing_thread

OWNER = Principal("owner")
ADMIN = Principal("ops", is_admin=True)


def fleet(service, proxy_id, n, config=None):
    if config:
        service.put_config(OWNER, proxy_id, config)
    ids = [str(service.register_instance(OWNER, proxy_id, _data(f"i{k}", k)).instance.id) for k in range(n)]
    return ids


def _data(name, priority):
    return {"instance_name": name, "instance_type": "standard", "priority": priority, "weight": 100}


def state(db, proxy_id):
    aggregate = proxy_state.read_state(db.autocommit(), proxy_id, ADMIN)
    return aggregate, aggregate.instances


def test_concurrent_executes_from_the_same_source_make_one_switch_and_one_event(db):
    service = FailoverService(db)
    ids = fleet(service, "race", 4)
    for i in ids:
        service.report_health(OWNER, i, HealthStatus.HEALTHY, None)
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
    events = db.autocommit().run("SELECT count(*) FROM proxy_failover_events WHERE event_type = 'failover'")
    assert events[0][0] == 1


def test_failed_transaction_leaves_no_partial_state(db, monkeypatch):
    service = FailoverService(db)
    a, b = fleet(service, "atomic", 2)
    service.report_health(OWNER, a, HealthStatus.HEALTHY, None)
    service.report_health(OWNER, b, HealthStatus.HEALTHY, None)
    service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None)
    service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None)
    before_proxy, before_instances = state(db, "atomic")

    # Given a notification the database refuses (the last statement of the failover transaction)
    real = engine.outbox_row

    def refused(*args, **kwargs):
        row = real(*args, **kwargs)
        return OutboxRow(row.id, row.type, row.proxy_id, row.user_id, "not-a-severity", row.message)

    monkeypatch.setattr(engine, "outbox_row", refused)
    # When the third failure would fail the proxy over
    with pytest.raises(ConstraintViolation):
        service.report_health(OWNER, a, HealthStatus.UNHEALTHY, None)
    # Then nothing of it stayed: no switch, no event, no counter change
    after_proxy, after_instances = state(db, "atomic")
    assert after_proxy.active_instance_id == before_proxy.active_instance_id == a
    assert after_instances == before_instances
    assert db.autocommit().run("SELECT count(*) FROM proxy_failover_events")[0][0] == 0


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("report"),
            st.integers(0, 3),
            st.sampled_from(list(HealthStatus)),
            st.none() | st.integers(0, 50),
        ),
        st.tuples(st.just("register"), st.integers(0, 3), st.none(), st.none()),
        st.tuples(st.just("execute"), st.integers(0, 3), st.booleans(), st.none()),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops, strategy=st.sampled_from(list(Strategy)), fall=st.integers(1, 3), rise=st.integers(1, 3))
def test_random_operations_keep_every_invariant(db, ops, strategy, fall, rise):
    """Random registrations, reports (with connection counts) and manual failovers: after each one,
    exactly one active instance, stored redundancy == recomputation, counters == the pure state
    machine's prediction, and no switch ever lands on an unhealthy or flapping instance."""
    db.autocommit().run("TRUNCATE proxies, proxy_failover_events, config_versions CASCADE")
    db.autocommit().run("TRUNCATE notification_outbox")
    service = FailoverService(db)
    proxy_id = "prop"
    config = FailoverConfig(failover_strategy=strategy, unhealthy_threshold=fall, healthy_threshold=rise)
    service.put_config(
        OWNER,
        proxy_id,
        {"failover_strategy": strategy, "unhealthy_threshold": fall, "healthy_threshold": rise},
    )
    ids = fleet(service, proxy_id, 2)
    for op, k, arg, conns in ops:
        if op == "register":
            ids.append(str(service.register_instance(OWNER, proxy_id, _data(f"n{len(ids)}", k)).instance.id))
        elif op == "report":
            target = ids[k % len(ids)]
            _, before = state(db, proxy_id)
            predicted, _ = apply_check(
                next(i for i in before if i.id == target),
                arg,
                config,
                datetime.now(UTC),
                connection_count=conns,
            )
            row = service.report_health(
                OWNER, target, arg, MetricsSample(connection_count=conns) if conns is not None else None
            )
            assert row.instance.health_status == predicted.health_status
            assert row.instance.consecutive_failures == predicted.consecutive_failures
            assert row.instance.consecutive_successes == predicted.consecutive_successes
        else:
            proxy, instances = state(db, proxy_id)
            target = ids[k % len(ids)]
            try:
                service.execute_failover(ADMIN, proxy_id, proxy.active_instance_id, target, "prop", force=arg)
            except Exception as exc:  # refusals are fine; they must be the domain's
                assert type(exc).__name__ in {"TargetNotHealthy", "InvalidFailoverTarget"}
        proxy, instances = state(db, proxy_id)
        assert proxy.active_instance_id in {i.id for i in instances}
        stored = reads.get_redundancy(db.autocommit(), proxy_id, ADMIN)
        expected = assess(instances, proxy.active_instance_id, strategy)
        assert stored is not None
        assert stored.redundancy.total_instances == expected.total_instances
        assert stored.redundancy.healthy_instances == expected.healthy_instances
        assert list(stored.redundancy.backup_instance_ids) == list(expected.backup_instance_ids)
        assert stored.redundancy.is_degraded == expected.is_degraded
    automatic = db.autocommit().rows_as_dicts(
        "SELECT e.target_instance_id, i.health_status FROM proxy_failover_events e"
        " JOIN proxy_instances i ON i.id = e.target_instance_id WHERE e.actor = 'system'"
        " AND e.event_type IN ('failover', 'failback')"
    )
    # An automatic switch's target was eligible at switch time; with thresholds >= 1 it cannot have
    # fallen since without a later report, which the per-step checks above already cover.
    assert all(r["target_instance_id"] is not None for r in automatic)


def test_without_a_topic_notifications_of_a_switch_wait_untouched_for_the_relay(db, monkeypatch):
    from proxy_failover.settings import reset_settings

    monkeypatch.delenv("NOTIFICATIONS_TOPIC_ARN", raising=False)
    reset_settings()
    service = FailoverService(db)
    service.put_config(OWNER, "quiet", {})
    a, b = (
        str(
            service.register_instance(
                OWNER,
                "quiet",
                {"instance_name": n, "instance_type": "standard", "priority": k, "weight": 100},
            ).instance.id
        )
        for k, n in enumerate("ab")
    )
    for i in (a, b):
        service.report_health(OWNER, i, HealthStatus.HEALTHY, None)
    service.execute_failover(ADMIN, "quiet", a, b, "drill")
    rows = db.autocommit().run(
        "SELECT type, attempts, last_error, sent_at FROM notification_outbox WHERE proxy_id = 'quiet'"
    )
    assert "failover" in {kind for kind, *_ in rows}
    assert all(attempts == 0 and error is None and sent is None for _, attempts, error, sent in rows)


def test_a_lock_that_waited_for_another_writer_reads_what_that_writer_committed(db):
    """The lock statement reads the aggregate with it (one round trip); when another writer committed
    while the lock waited, that read is of an older snapshot, and the engine reads again."""
    from proxy_failover.store import locks

    service = FailoverService(db)
    ids = fleet(service, "waited", 2, {"unhealthy_threshold": 1})
    # Given a writer holding the proxy's lock, having changed an instance and its write sequence
    from proxy_failover.store.db import Database

    holder = Database(db.params)
    seen: dict[str, object] = {}

    def writer() -> None:
        with db.transaction() as mine:
            locks.lock_proxy(mine, "waited", OWNER)  # waits for the holder
            before = mine.statements
            (aggregate,) = proxy_state.read_locked(mine, ["waited"])
            seen["reads"] = mine.statements - before
            seen["instances"] = {i.name: i.health_status for i in aggregate.instances}

    try:  # closing the holder's connection ends its transaction whatever happens
        con = holder.connection()
        con.run("BEGIN")
        con.run("SELECT 1 FROM proxies WHERE proxy_id = 'waited' FOR UPDATE")
        con.run(
            "UPDATE proxy_instances SET health_status = 'unhealthy' WHERE id = CAST(:id AS uuid)", id=ids[1]
        )
        con.run(
            "INSERT INTO proxy_instances (proxy_id, instance_name, priority) VALUES ('waited', 'late', 9)"
        )
        con.run("UPDATE proxies SET write_seq = write_seq + 1 WHERE proxy_id = 'waited'")
        waiting = closing_thread(db, writer)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive()  # held by the lock
        # When the holder commits
        con.run("COMMIT")
        waiting.join(10)
    finally:
        holder.discard()
    # Then the waiting writer read again, and sees the holder's changes, the new instance included
    assert seen["reads"] == 1
    assert seen["instances"] == {
        "i0": HealthStatus.UNKNOWN,
        "i1": HealthStatus.UNHEALTHY,
        "late": HealthStatus.UNKNOWN,
    }


def test_a_lock_nobody_contended_reads_the_aggregate_with_it(db):
    from proxy_failover.store import locks

    service = FailoverService(db)
    fleet(service, "alone", 2)
    with db.transaction() as con:
        locks.lock_proxy(con, "alone", OWNER)
        before = con.statements
        (aggregate,) = proxy_state.read_locked(con, ["alone"])
        assert con.statements == before  # read by the lock statement itself
        assert sorted(i.name for i in aggregate.instances) == ["i0", "i1"]


@pytest.mark.parametrize("held", [False, True])
def test_a_proxy_its_lock_created_is_known_without_a_read_and_as_a_read_shows_it(db, held):
    """The first write of a proxy creates it in its lock statement, whose snapshot cannot see the new
    row: the aggregate is then the empty proxy, as a read after the lock finds it."""
    from proxy_failover.store import locks

    if held:  # the fleet's brake, which every aggregate carries
        db.autocommit().run("UPDATE fleet_safety SET auto_failover = 'held'")
    with db.transaction() as con:
        locks.ensure_proxy(con, "fresh", OWNER)
        before = con.statements
        (known,) = proxy_state.read_locked(con, ["fresh"])
        assert con.statements == before  # no statement: known from the lock
        (read,) = proxy_state._aggregates(con.rows_as_dicts(proxy_state._READ_ONE_LOCKED, id="fresh"))
        assert known == read
        assert known.owner_id == OWNER.owner and known.automatic_held is held and not known.instances
    # A proxy that exists is not taken for a new one: its lock reads it as it stands
    service = FailoverService(db)
    fleet(service, "fresh", 2, {"unhealthy_threshold": 1})
    with db.transaction() as con:
        locks.ensure_proxy(con, "fresh", OWNER)
        (existing,) = proxy_state.read_locked(con, ["fresh"])
        assert sorted(i.name for i in existing.instances) == ["i0", "i1"]
        assert existing.config.unhealthy_threshold == 1


def test_a_status_change_reads_its_own_rows_only_however_large_the_fleet(db, monkeypatch):
    """The write joins its rows to the tables by their keys: with thousands of other proxies, its plan
    (the generic one a connection keeps) reads no table in full."""
    from datetime import datetime as moment

    from pg8000.native import to_statement
    from proxy_failover.store.db import Connection

    service = FailoverService(db)
    a, b = fleet(service, "among-many", 2, {"unhealthy_threshold": 1, "healthy_threshold": 1})
    for i in (a, b):
        service.report_health(OWNER, i, HealthStatus.HEALTHY, None)
    con = db.autocommit()
    con.run(
        "INSERT INTO proxies (proxy_id, owner_id) SELECT 'other-' || g, 'someone' FROM generate_series(1, 3000) g"
    )
    con.run(
        "INSERT INTO proxy_instances (id, proxy_id, instance_name, created_at, updated_at)"
        " SELECT gen_random_uuid(), 'other-' || g, 'i' || k, now(), now()"
        " FROM generate_series(1, 3000) g, generate_series(1, 4) k"
    )
    con.run("ANALYZE")
    writes = []
    run = Connection.run

    def noting_the_write(self, sql, **params):
        if sql.startswith("WITH instances AS"):
            writes.append((sql, {k: v for k, v in params.items() if k not in {"commit", "guard"}}))
        return run(self, sql, **params)

    run_then = Connection.run_then

    def noting_the_paging_write(self, sql, params, *rest, **options):
        if sql.startswith("WITH instances AS"):
            writes.append((sql, params))
        return run_then(self, sql, params, *rest, **options)

    monkeypatch.setattr(Connection, "run", noting_the_write)
    monkeypatch.setattr(Connection, "run_then", noting_the_paging_write)
    service.report_health(OWNER, b, HealthStatus.UNHEALTHY, None)
    monkeypatch.undo()
    assert writes, "the status change wrote through one statement"
    sql, params = writes[-1]
    assert "UPDATE proxies" in sql and "UPDATE proxy_instances" in sql

    def literal(value):
        if value is None:
            return "NULL"
        if isinstance(value, int | float):
            return str(value)
        text = value.isoformat() if isinstance(value, moment) else str(value)
        return "'" + text.replace("'", "''") + "'"

    statement, make_values = to_statement(sql)
    arguments = ", ".join(literal(v) for v in make_values(params))
    con.run(f"PREPARE the_write AS {statement}")
    try:
        con.run("SET plan_cache_mode = force_generic_plan")
        plan = "\n".join(row[0] for row in con.run(f"EXPLAIN EXECUTE the_write({arguments})"))
    finally:
        con.run("RESET plan_cache_mode")
        con.run("DEALLOCATE the_write")
    for table in ("proxies", "proxy_instances", "proxy_schedule", "proxy_failover_events"):
        assert f"Seq Scan on {table} " not in plan, plan
