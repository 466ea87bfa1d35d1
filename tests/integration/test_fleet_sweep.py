"""The sweep as a fleet, on real PostgreSQL with the work queue in moto SQS: the dispatcher sizes the
workers by the backlog, workers split the work without checking a proxy twice in an interval, the
pipeline lets no slow probe hold up another batch, lag is measured, retention deletes what is old in
bounded batches, and the claim stays an index scan at 100,000 proxies."""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from proxy_failover.dispatch import WorkerPlan, dispatch, workers_needed
from proxy_failover.settings import Settings, get_settings, reset_settings
from proxy_failover.store import claims, retention
from proxy_failover.store.claims import Backlog
from proxy_failover.sweep import Sweeper

from local.emulators import bounded
from tests.fleet import FleetProcess, populate
from tests.helpers import function, sample_event
from tests.integration.test_sweep import settings
from tests.servers import FleetServer, HangingServer

# -- sizing (pure) ---------------------------------------------------------------------------------------


def _plan(due=0, lag=0.0, checks=0.0, **overrides) -> WorkerPlan:
    chosen = Settings(sweep_run_seconds=60, sweep_worker_checks_per_second=100, sweep_max_workers=8)
    return workers_needed(Backlog(due, lag, checks), chosen._replace(**overrides))


def test_no_backlog_starts_no_worker():
    assert _plan() == WorkerPlan(0, 0.0)


def test_a_larger_backlog_starts_more_workers_up_to_the_maximum():
    assert _plan(due=10, checks=60).workers == 1  # 1 check/s: one worker
    assert _plan(due=1000, checks=60 * 250).workers == 3  # 250 checks/s at 100 a worker
    assert _plan(due=10**5, checks=60 * 10**5).workers == 8  # capped
    assert _plan(due=10**5, checks=60 * 10**5, sweep_max_workers=2).workers == 2


def test_lag_beyond_the_target_adds_workers():
    on_time = _plan(due=100, lag=1, checks=60 * 150).workers
    assert _plan(due=100, lag=25, checks=60 * 150).workers == on_time + 3  # 25 s at a 10 s target


# -- the dispatcher, against PostgreSQL and a work queue in moto SQS -------------------------------------


@pytest.fixture
def work_queue(monkeypatch):
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1", config=bounded())
        url = sqs.create_queue(QueueName="sweep-work")["QueueUrl"]
        monkeypatch.setenv("SWEEP_WORK_QUEUE_URL", url)
        reset_settings()
        yield sqs, url


def _queued(sqs, url) -> int:
    return int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )


def _dispatch(db, **overrides):
    chosen = get_settings()._replace(**overrides)
    return dispatch(db, chosen, run_id="test", deadline=time.monotonic() + 5)


def test_a_dispatcher_with_nothing_due_starts_no_worker(db, work_queue):
    done = _dispatch(db)
    assert (done.plan.workers, done.started) == (0, 0) and _queued(*work_queue) == 0


def test_a_dispatcher_with_a_large_backlog_starts_more_workers(db, work_queue):
    with FleetProcess() as fleet:
        populate(db, fleet, random.Random(1), 300)  # 1,200 instances due now at 30 s
    small = _dispatch(db, sweep_worker_checks_per_second=1000.0, sweep_max_workers=16)
    assert small.started == 1 and _queued(*work_queue) == 1
    # 1,200 instances at 30 s: 40 checks a second; at 4 a worker, ten workers
    sized = _dispatch(db, sweep_worker_checks_per_second=4.0, sweep_max_workers=16, sweep_run_seconds=70.0)
    assert sized.backlog.due_proxies == 300 and sized.plan.workers == 10
    large = _dispatch(db, sweep_worker_checks_per_second=1.0, sweep_max_workers=16)
    assert large.plan.workers == 16  # capped
    assert large.started == 16 and _queued(*work_queue) == 1 + 10 + 16
    body = json.loads(work_queue[0].receive_message(QueueUrl=work_queue[1])["Messages"][0]["Body"])
    assert body["run"] == "test"


def test_a_hanging_work_queue_holds_the_dispatcher_for_one_bounded_call(db, work_queue, monkeypatch):
    with FleetProcess() as fleet:
        populate(db, fleet, random.Random(4), 30)
    with HangingServer() as server:
        # Given SQS accepts the connection and never answers (and SNS's bounds are long: SQS has its own)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", server.url)
        monkeypatch.setenv("SNS_CONNECT_TIMEOUT_SECONDS", "40")
        monkeypatch.setenv("SNS_READ_TIMEOUT_SECONDS", "40")
        reset_settings()
        started = time.monotonic()
        done = _dispatch(db, sweep_worker_checks_per_second=1.0, sweep_max_workers=16)
        took = time.monotonic() - started
    # Then the dispatcher gave up after one call, within its timeouts, and starts no worker this minute
    # (the next dispatch is the retry)
    assert done.plan.workers > 0 and done.started == 0
    assert server.connections == 1
    assert took < 30, took  # generous: the bound is SQS's connect + read timeout, about 3 s


def test_the_dispatcher_reports_lag(db, work_queue):
    with FleetProcess() as fleet:
        populate(db, fleet, random.Random(2), 10)
    db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now() - interval '42 seconds'")
    done = _dispatch(db)
    assert 42 <= done.backlog.lag_seconds < 50
    assert 42 <= claims.lag_seconds(db.autocommit(), "local") < 50


def test_without_a_work_queue_the_dispatcher_sweeps_itself(db, monkeypatch):
    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    with FleetProcess() as fleet:
        populate(db, fleet, random.Random(3), 5)
        done = _dispatch(db)
    assert done.started == 0 and done.inline is not None and done.inline.checks == 20


# -- workers ---------------------------------------------------------------------------------------------


def test_two_workers_never_check_a_proxy_twice_in_one_interval(db, monkeypatch):
    """Two workers run side by side for 5 s over proxies with a 2 s interval: each instance is checked
    about once per interval, never twice within one."""
    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    server = FleetServer()
    stamps: dict[str, list[float]] = {}
    lock = threading.Lock()
    original = server.server.RequestHandlerClass.do_GET

    def stamped(handler):
        with lock:
            stamps.setdefault(handler.path, []).append(time.monotonic())
        original(handler)

    server.server.RequestHandlerClass.do_GET = stamped
    try:
        con = db.autocommit()
        for k in range(20):
            con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES (:p, 'o')", p=f"w{k}")
            con.run(
                "INSERT INTO proxy_failover_configurations (proxy_id, health_check_interval_seconds,"
                " health_check_timeout_seconds) VALUES (:p, 2, 1)",
                p=f"w{k}",
            )
            con.run(
                "INSERT INTO proxy_instances (proxy_id, instance_name, health_check_url) VALUES (:p, 'a', :u)",
                p=f"w{k}",
                u=server.url(f"w{k}"),
            )
        con.run("UPDATE proxy_schedule SET next_check_at = now()")

        def work():
            Sweeper(db, settings=settings(sweep_batch_size=3, sweep_schedule_seconds=60)).run_until(
                time.monotonic() + 5
            )

        workers = [threading.Thread(target=work) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        server.close()
    assert len(stamps) == 20
    for path, times in stamps.items():
        assert 2 <= len(times) <= 4, (path, times)  # 5 s at 2 s: the first check and one or two more
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap > 1.5 for gap in gaps), (path, gaps)  # never twice within an interval


def test_a_slow_probe_holds_up_no_other_batch(db, monkeypatch):
    """Batches of one: the first proxy's instance hangs until its 3 s timeout; the others, claimed after
    it, are written long before that."""
    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    server = FleetServer()
    server.modes["slow"] = "hang"
    try:
        con = db.autocommit()
        for k, name in enumerate(["slow", "fast1", "fast2", "fast3"]):
            con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES (:p, 'o')", p=name)
            con.run(
                "UPDATE proxy_schedule SET next_check_at = now() - make_interval(secs => :k) WHERE proxy_id = :p",
                p=name,
                k=10 - k,
            )
            con.run(
                "INSERT INTO proxy_failover_configurations (proxy_id, health_check_interval_seconds,"
                " health_check_timeout_seconds) VALUES (:p, 30, 3)",
                p=name,
            )
            con.run(
                "INSERT INTO proxy_instances (proxy_id, instance_name, health_check_url) VALUES (:p, 'a', :u)",
                p=name,
                u=server.url(name),
            )
        started = datetime.now(UTC)
        Sweeper(db, settings=settings(sweep_batch_size=1)).run_once()
    finally:
        server.close()
    checked = dict(con.run("SELECT proxy_id, last_health_check FROM proxy_instances"))
    assert (checked["slow"] - started).total_seconds() >= 2.9  # its own timeout
    for fast in ("fast1", "fast2", "fast3"):
        assert (checked[fast] - started).total_seconds() < 1.5, checked  # not behind the slow one


def test_a_worker_emits_its_lag_and_names_the_dispatch_that_started_it(db, monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    reset_settings()
    kept: list[logging.LogRecord] = []
    keeper = logging.Handler()
    keeper.emit = kept.append  # type: ignore[method-assign]
    logging.getLogger("proxy_failover").addHandler(keeper)

    class Context:
        function_name = "SweepWorkerFunction"

        def get_remaining_time_in_millis(self):
            return 1000

    # The worker function, on the message a dispatcher puts on the work queue (events/sweep_worker.json)
    try:
        summary = function("sweep_worker").handler(sample_event("sweep_worker"), Context())
    finally:
        logging.getLogger("proxy_failover").removeHandler(keeper)
    assert summary["checks"] == 0
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for line in emf for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"SweepLagSeconds", "SweepCompleted", "ChecksPerformed"} <= names
    finished = [r for r in kept if r.getMessage() == "sweep finished"]
    assert [r.dispatch_run for r in finished] == ["3f9c2a7b1d04"]  # found from the dispatcher's logs


# -- retention ---------------------------------------------------------------------------------------------


def test_retention_deletes_what_is_older_than_its_rule_in_bounded_batches(db):
    con = db.autocommit()
    con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES ('ret', 'o')")
    con.run("INSERT INTO proxy_instances (proxy_id, instance_name) VALUES ('ret', 'a')")
    instance = con.run("SELECT id FROM proxy_instances")[0][0]
    now = con.run("SELECT now()")[0][0]
    con.run(
        "INSERT INTO proxy_instance_metrics (instance_id, recorded_at, cpu_percent)"
        " SELECT :i, now() - make_interval(days => g % 10), 1 FROM generate_series(1, 1000) g",
        i=instance,
    )
    old, new = now - timedelta(days=30), now - timedelta(days=1)
    for k, (started, status, completed) in enumerate(
        [(old, "completed", old), (old, "in_progress", None), (new, "completed", new), (old, "failed", old)]
    ):
        con.run(
            "INSERT INTO proxy_failover_events (id, proxy_id, owner_id, event_type, status, reason, actor,"
            " started_at, completed_at) SELECT gen_random_uuid(), 'ret', owner_id, 'recovery', :s, :r, 'system',"
            " :st, :c FROM proxies WHERE proxy_id = 'ret'",
            s=status,
            r=f"e{k}",
            st=started,
            c=completed,
        )
    con.run(
        "INSERT INTO notification_outbox (id, type, proxy_id, severity, message, sent_at)"
        " SELECT gen_random_uuid(), 'failover', 'ret', 'info', '{}', CASE WHEN g % 3 = 0 THEN NULL"
        " ELSE now() - make_interval(days => g % 20) END FROM generate_series(1, 300) g"
    )
    con.run(  # the last pages of 600 proxies, one a second over the last ten minutes
        "INSERT INTO fleet_page_last (owner_id, proxy_id, paged_at)"
        " SELECT 'o', 'ret-' || g, now() - make_interval(secs => g) FROM generate_series(0, 599) g"
    )
    keep = {
        "metrics": timedelta(days=7),
        "sent_notifications": timedelta(days=7),
        "events": timedelta(days=7),
        "report_keys": timedelta(hours=1),
        "storm_pages": timedelta(minutes=5),
    }
    deleted = retention.enforce(con, now, keep, batch_rows=50, budget_seconds=30)
    # only what a storm's window (a minute) could still count is kept, and then some
    assert (
        con.run("SELECT count(*) FROM fleet_page_last WHERE paged_at < :c", c=now - timedelta(minutes=5))[0][
            0
        ]
        == 0
    )
    assert con.run("SELECT count(*) FROM fleet_page_last")[0][0] >= 299 and deleted["storm_pages"] >= 299
    assert (
        con.run(
            "SELECT count(*) FROM proxy_instance_metrics WHERE recorded_at < :c", c=now - keep["metrics"]
        )[0][0]
        == 0
    )
    assert con.run("SELECT count(*) FROM proxy_instance_metrics")[0][0] == 800  # up to 7 days old kept
    assert deleted["metrics"] == 200  # 8 and 9 days old, in batches of 50
    reasons = sorted(r for (r,) in con.run("SELECT reason FROM proxy_failover_events"))
    assert reasons == ["e1", "e2"]  # the open one, however old, and the recent one
    unsent = con.run("SELECT count(*) FROM notification_outbox WHERE sent_at IS NULL")[0][0]
    assert unsent == 100 and deleted["sent_notifications"] > 0  # unsent ones are never deleted
    assert (
        con.run(
            "SELECT count(*) FROM notification_outbox WHERE sent_at < :c", c=now - keep["sent_notifications"]
        )[0][0]
        == 0
    )


def test_retention_stops_at_its_budget_and_the_next_run_goes_on(db):
    con = db.autocommit()
    con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES ('ret2', 'o')")
    con.run("INSERT INTO proxy_instances (proxy_id, instance_name) VALUES ('ret2', 'a')")
    instance = con.run("SELECT id FROM proxy_instances")[0][0]
    con.run(
        "INSERT INTO proxy_instance_metrics (instance_id, recorded_at) SELECT :i, now() - interval '30 days'"
        " FROM generate_series(1, 500)",
        i=instance,
    )
    now = con.run("SELECT now()")[0][0]
    first = retention.enforce(con, now, {"metrics": timedelta(days=7)}, batch_rows=10, budget_seconds=0)
    assert first["metrics"] == 0  # no time: nothing done, nothing held
    second = retention.enforce(con, now, {"metrics": timedelta(days=7)}, batch_rows=100, budget_seconds=30)
    assert second["metrics"] == 500


# -- indexes at 100,000 proxies ----------------------------------------------------------------------------


def _plan_of(con, sql: str, **params) -> dict:
    con.run("ANALYZE proxies")
    rows = con.run("EXPLAIN (FORMAT JSON) " + sql, **params)
    return rows[0][0][0]["Plan"]


def _nodes(plan: dict) -> list[str]:
    found = [f"{plan['Node Type']}:{plan.get('Index Name', '')}"]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def test_the_claim_is_an_index_scan_proportional_to_what_is_due_at_100k_proxies(db):
    con = db.autocommit()
    # in statements that each finish well within the connection's 5 s socket timeout on a busy machine
    for first in range(1, 100_001, 10_000):
        con.run(
            "INSERT INTO proxies (proxy_id, owner_id)"
            " SELECT 'big-' || g, 'o' FROM generate_series(:first::int, :first::int + 9999) g",
            first=first,
        )
    con.run(
        "UPDATE proxy_schedule SET next_check_at = now() + make_interval(secs => 600 + substr(proxy_id, 5)::int % 30)"
    )
    con.run("ANALYZE proxy_schedule")
    con.run(
        "INSERT INTO proxy_instances (proxy_id, instance_name, health_check_url)"
        " SELECT proxy_id, 'a', 'http://10.0.0.1/' FROM proxies"
    )
    con.run("ANALYZE proxy_instances")
    con.run(
        "UPDATE proxy_schedule SET next_check_at = now() - interval '1 second' WHERE proxy_id IN ('big-1', 'big-2')"
    )
    due = (
        "SELECT proxy_id FROM proxy_schedule WHERE vantage = 'local' AND next_check_at <= now()"
        " ORDER BY next_check_at LIMIT 500 FOR UPDATE SKIP LOCKED"
    )
    nodes = _nodes(_plan_of(con, due))
    # by the due index (a plain or a bitmap scan of it), never a scan of the fleet
    assert any(n.endswith("Index Scan:proxy_schedule_due_idx") for n in nodes), nodes
    assert not any(n.startswith("Seq Scan") for n in nodes), nodes
    deadlines = _nodes(_plan_of(con, claims._DEADLINES, limit=500))
    assert not any(n.startswith("Seq Scan:") and "proxies" in n for n in deadlines), deadlines
    assert any("proxies_drill_due_idx" in n for n in deadlines) and any(
        "proxy_instances_maintenance_due_idx" in n for n in deadlines
    ), deadlines
    with_instances = claims.claim_due(con, "local", 500)
    assert sorted(c.proxy_id for c in with_instances) == ["big-1", "big-2"]
