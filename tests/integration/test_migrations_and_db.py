"""Migration runner and data access against real PostgreSQL."""

from __future__ import annotations

import shutil
import ssl
import threading
import time
from datetime import datetime

import pytest
from proxy_failover.errors import ConstraintViolation, DatabaseUnavailable, MigrationError
from proxy_failover.store.connect import ConnectParams, params_from_url, ssl_context_for
from proxy_failover.store.db import Database
from proxy_failover.store.migrate import migrate

from local import embedded_pg


@pytest.fixture
def scratch_db(server_url):
    """An empty database of its own, for runs of the migrator from nothing."""
    with embedded_pg.scratch_database(server_url, "pf_mig") as url:
        yield url


def test_migrations_applied_twice_are_a_no_op(scratch_db, migrations_dir):
    db = Database.from_url(scratch_db)
    first = migrate(db, migrations_dir)
    second = migrate(db, migrations_dir)
    assert first and first[0].startswith("001_")
    assert second == []
    assert db.connection().run("SELECT count(*) FROM schema_migrations")[0][0] == len(first)


def test_a_changed_applied_migration_is_refused(scratch_db, migrations_dir, tmp_path):
    db = Database.from_url(scratch_db)
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir, copy)
    migrate(db, copy)
    target = sorted(copy.glob("*.sql"))[0]
    target.write_text(target.read_text() + "\n-- edited after it was applied\n")
    with pytest.raises(MigrationError, match="changed"):
        migrate(db, copy)


def test_concurrent_migrators_take_turns(scratch_db, migrations_dir):
    applied: list[list[str]] = []
    errors: list[Exception] = []

    def run() -> None:
        db = Database.from_url(scratch_db)
        try:
            applied.append(migrate(db, migrations_dir))
        except Exception as exc:
            errors.append(exc)
        finally:
            db.discard()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(len(a) for a in applied) == [0, 0, len(list(migrations_dir.glob("*.sql")))]


def test_constraint_violations_surface_as_layer_exceptions(db):
    con = db.autocommit()
    con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES ('p1', 'u')")
    con.run("INSERT INTO proxy_instances (proxy_id, instance_name) VALUES ('p1', 'a')")
    with pytest.raises(ConstraintViolation) as duplicate:
        con.run("INSERT INTO proxy_instances (proxy_id, instance_name) VALUES (:p, :n)", p="p1", n="a")
    assert duplicate.value.constraint == "instance_name_unique_per_proxy"
    # the client reads our words; PostgreSQL's are kept for the logs
    assert duplicate.value.message == "refused by the data constraint instance_name_unique_per_proxy"
    assert "duplicate key" in (duplicate.value.internal or "")
    with pytest.raises(ConstraintViolation) as bad_enum:
        con.run("UPDATE proxy_instances SET health_status = :s", s="sideways")
    assert bad_enum.value.sqlstate == "23514"
    with pytest.raises(ConstraintViolation):
        con.run("INSERT INTO proxy_instances (proxy_id, instance_name) VALUES (:p, :n)", p="nope", n="a")
    with pytest.raises(ConstraintViolation):
        con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES (:p, 'u')", p="bad id with spaces")


def test_a_connection_the_server_closed_is_replaced_before_use(db):
    """After a restart or failover of PostgreSQL the next request gets a new connection, not a 503."""
    con = db.connection()
    pid = con.run("SELECT pg_backend_pid()")[0][0]
    killer = Database(db.params)
    killer.connection().run(f"SELECT pg_terminate_backend({pid})")
    killer.discard()
    time.sleep(0.2)  # the server's goodbye reaches our socket
    assert db.autocommit().run("SELECT 1") == [[1]]
    assert db.connection().run("SELECT pg_backend_pid()")[0][0] != pid


def test_a_connection_lost_mid_statement_is_unavailable_then_replaced(db):
    con = db.connection()
    pid = con.run("SELECT pg_backend_pid()")[0][0]
    killer = Database(db.params)
    with pytest.raises(DatabaseUnavailable):
        with db.transaction() as tx:
            killer.connection().run(f"SELECT pg_terminate_backend({pid})")
            tx.run("SELECT pg_sleep(0.2)")
    killer.discard()
    assert db.autocommit().run("SELECT 1") == [[1]]


def test_an_unreachable_server_is_database_unavailable():
    nowhere = Database(ConnectParams(user="postgres", database="postgres", host="127.0.0.1", port=1))
    with pytest.raises(DatabaseUnavailable):
        nowhere.connection()


def test_database_urls_parse():
    tcp = params_from_url("postgresql://app:s%40cret@db.internal:6432/fleet?sslmode=require")
    assert (tcp.user, tcp.password, tcp.host, tcp.port, tcp.database, tcp.ssl_mode) == (
        "app",
        "s@cret",
        "db.internal",
        6432,
        "fleet",
        "require",
    )
    assert params_from_url("postgresql://app@db/fleet").ssl_mode == "disable"
    with pytest.raises(ValueError, match="sslmode"):
        params_from_url("postgresql://app@db/fleet?sslmode=sometimes")


def test_sslmodes_map_to_the_drivers_tls_choices():
    # disable must not even build a TLS context: pg8000 would otherwise load the CA store per connection
    assert ssl_context_for("disable") is False
    assert ssl_context_for("prefer") is None
    assert ssl_context_for("require").verify_mode == ssl.CERT_NONE
    verify_ca, verify_full = ssl_context_for("verify-ca"), ssl_context_for("verify-full")
    assert (verify_ca.check_hostname, verify_full.check_hostname) == (False, True)
    assert verify_full.verify_mode == ssl.CERT_REQUIRED
    socket = params_from_url("postgresql://postgres:@/postgres?host=/run/pg")
    assert socket.unix_sock == "/run/pg/.s.PGSQL.5432" and socket.host is None


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_timestamps_read_back_as_the_instants_postgres_holds(db, zone):
    # The connection parses timestamptz itself (fromisoformat, not the driver's strptime); the values
    # must be the same instants, in any session time zone. Old dates carry offsets in seconds
    # ('+05:53:28'), which the driver's parser returns as text.
    from pg8000.converters import timestamptz_array_in as driver_array_in
    from pg8000.converters import timestamptz_in as driver_in

    con = db.autocommit()
    con.run(f"SET TIME ZONE '{zone}'")
    try:
        values = [
            "2026-11-27 12:00:00+00",
            "2026-11-27 12:00:00.5+00",
            "2026-11-27 12:00:00.123456+00",
            "0099-02-03 04:05:06+00",
            "infinity",
            "-infinity",
        ]
        for value in values:
            parsed, text, epoch = con.run(
                f"SELECT CAST('{value}' AS timestamptz), CAST('{value}' AS timestamptz)::text,"
                f" extract(epoch FROM CAST('{value}' AS timestamptz))::float8"
            )[0]
            if "infinity" in value:
                assert parsed == driver_in(text) == value
            else:
                assert isinstance(parsed, datetime) and parsed.timestamp() == epoch, (zone, value, text)
                assert parsed.utcoffset() is not None
        arrays = ["{}", "{NULL}", '{"2026-11-27 12:00:00+00","2026-11-27 12:00:01.25+00"}']
        for value in arrays:
            parsed, text = con.run(
                f"SELECT CAST('{value}' AS timestamptz[]), CAST('{value}' AS timestamptz[])::text"
            )[0]
            assert parsed == driver_array_in(text), (zone, value, text)
    finally:
        con.run("RESET TIME ZONE")


def test_a_database_that_stops_answering_mid_statement_is_unavailable_within_its_bound(migrated):
    """The socket's bound is kept by the kernel once connected: a statement whose answer does not come
    (here the server sleeps past it) ends as DatabaseUnavailable, and the connection is not reused."""
    from proxy_failover.settings import Settings

    settings = Settings.from_environ({"DATABASE_URL": migrated, "DB_CONNECT_TIMEOUT_SECONDS": "0.5"})
    database = Database.from_url(migrated, settings=settings)
    con = database.connection()
    assert con.run("SELECT 1") == [[1]]
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        con.run("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 2.0
    assert con.broken
    assert database.connection() is not con  # a new connection, which answers
    assert database.connection().run("SELECT 2") == [[2]]
    database.discard()


def test_a_database_that_accepts_and_never_answers_is_unavailable_within_its_bound():
    from proxy_failover.settings import Settings

    from tests.servers import HangingServer

    with HangingServer() as server:
        url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        settings = Settings.from_environ({"DATABASE_URL": url, "DB_CONNECT_TIMEOUT_SECONDS": "0.5"})
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            Database.from_url(url, settings=settings).connection()
        assert time.monotonic() - started < 2.0


def _proxies_named(db, prefix: str) -> list[str]:
    rows = db.autocommit().run(
        "SELECT proxy_id FROM proxies WHERE proxy_id LIKE :p ORDER BY 1", p=f"{prefix}%"
    )
    return [r[0] for r in rows]


INSERT_TWO = (
    "INSERT INTO proxies (proxy_id, owner_id) SELECT unnest(CAST(:ids AS text[])), 'u' RETURNING proxy_id"
)
GUARD = "SELECT CASE WHEN CAST(:ok AS boolean) THEN 1 ELSE 1 / 0 END"


def test_a_whole_transaction_in_one_message_commits_its_statements_together(db):
    with db.transaction() as con:
        rows = con.run(INSERT_TWO, commit=True, guard=(GUARD, {"ok": True}), ids=["one-a", "one-b"])
        assert not con.in_transaction  # committed at the message's end
    assert sorted(r[0] for r in rows) == ["one-a", "one-b"]
    assert _proxies_named(db, "one-") == ["one-a", "one-b"]
    # and the connection answers the next statement as ever
    assert db.autocommit().run("SELECT 1") == [[1]]


def test_a_whole_transaction_in_one_message_whose_guard_fails_writes_nothing(db):
    with pytest.raises(ConstraintViolation) as refused:
        with db.transaction() as con:
            con.run(INSERT_TWO, commit=True, guard=(GUARD, {"ok": False}), ids=["two-a", "two-b"])
    assert refused.value.sqlstate == "22012"  # the guard's division by zero, not a later statement's
    assert _proxies_named(db, "two-") == []
    assert not db.connection().broken and db.autocommit().run("SELECT 1") == [[1]]


def test_a_whole_transaction_in_one_message_whose_statement_fails_keeps_nothing_of_it(db):
    db.autocommit().run("INSERT INTO proxies (proxy_id, owner_id) VALUES ('three-b', 'u')")
    with pytest.raises(ConstraintViolation):
        with db.transaction() as con:  # three-a would go in, three-b is a duplicate: neither stays
            con.run(INSERT_TWO, commit=True, guard=(GUARD, {"ok": True}), ids=["three-a", "three-b"])
    assert _proxies_named(db, "three-") == ["three-b"]
    assert db.autocommit().run("SELECT 1") == [[1]]


def test_the_statement_after_a_one_message_transaction_sees_it_committed(db):
    with db.transaction() as con:
        rows, after = con.run_then(
            INSERT_TWO,
            {"ids": ["four-a", "four-b"]},
            "SELECT count(*) FROM proxies WHERE proxy_id LIKE 'four-%' AND xmin::text::bigint <> txid_current()",
            {},
            guard=(GUARD, {"ok": True}),
        )
    assert len(rows) == 2 and after == [[2]]  # in a transaction of its own, after the commit


def test_a_pool_lends_at_most_its_size_at_once_and_lends_its_connections_again(migrated):
    pool = Database.from_url(migrated, pool_size=2)
    inside, most, backends = [0], [0], set()
    lock = threading.Lock()

    def request() -> None:
        with pool.lease():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            backends.add(pool.autocommit().run("SELECT pg_backend_pid()")[0][0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most[0] == 2 and len(backends) == 2  # eight requests, two at a time, on two connections
    # A connection given back inside a transaction is closed, its slot lent anew with a new one
    with pool.lease():
        left = pool.connection()
        left.run("BEGIN")
    seen = set()
    for _ in range(2):
        with pool.lease():
            seen.add(pool.connection())
    assert left not in seen
    pool.close_pool()
