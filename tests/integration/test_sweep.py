"""The scheduled sweep against live local instances, real PostgreSQL and moto SNS/SQS."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from proxy_failover.dispatch import run_dispatcher
from proxy_failover.domain.models import HealthStatus, MetricsSample
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.settings import Settings, reset_settings
from proxy_failover.store import outbox
from proxy_failover.sweep import Sweeper

from tests.helpers import drain
from tests.servers import FleetServer, closed_port

OWNER = Principal("owner")


@pytest.fixture
def fleet(monkeypatch):
    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    server = FleetServer()
    yield server
    server.close()


def settings(**overrides) -> Settings:
    return Settings.from_environ(
        {**os.environ, "PROBE_ALLOW_LOOPBACK": "true", **{k.upper(): str(v) for k, v in overrides.items()}}
    )


def make_proxy(service, fleet, proxy_id, names, **config):
    service.put_config(
        OWNER, proxy_id, {"health_check_interval_seconds": 10, "health_check_timeout_seconds": 1, **config}
    )
    ids = {}
    for priority, name in enumerate(names):
        row = service.register_instance(
            OWNER,
            proxy_id,
            {
                "instance_name": name,
                "instance_type": "standard",
                "priority": priority,
                "weight": 100,
                "health_check_url": fleet.url(f"{proxy_id}-{name}"),
            },
        )
        ids[name] = row.instance.id
    return ids


def due_now(db):
    db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now()")


def sweep(db, **overrides):
    due_now(db)
    return Sweeper(db, settings=settings(**overrides)).run_once()


def active_of(db, proxy_id):
    return str(
        db.autocommit().run("SELECT active_instance_id FROM proxies WHERE proxy_id = :p", p=proxy_id)[0][0]
    )


def statuses(db, proxy_id):
    rows = db.autocommit().run(
        "SELECT instance_name, health_status FROM proxy_instances WHERE proxy_id = :p", p=proxy_id
    )
    return dict(rows)


def test_dead_primary_is_detected_after_exactly_the_threshold_and_failed_over(db, fleet, sns):
    service = FailoverService(db)
    ids = make_proxy(service, fleet, "p1", ["primary", "backup", "spare"], unhealthy_threshold=3)
    sweep(db)
    assert statuses(db, "p1") == {"primary": "healthy", "backup": "healthy", "spare": "healthy"}
    drain(sns)

    fleet.modes["p1-primary"] = "fail"
    sweep(db)
    sweep(db)
    assert statuses(db, "p1")["primary"] == "healthy" and active_of(db, "p1") == ids["primary"]
    stats = sweep(db)  # third failed check
    assert statuses(db, "p1")["primary"] == "unhealthy"
    assert active_of(db, "p1") == ids["backup"]  # priority strategy: next lowest priority
    assert stats.failovers == 1

    events = db.autocommit().rows_as_dicts(
        "SELECT * FROM proxy_failover_events WHERE event_type = 'failover'"
    )
    assert len(events) == 1 and events[0]["status"] == "completed" and events[0]["actor"] == "system"
    messages = drain(sns)
    failover = [m for m in messages if m["type"] == "failover"]
    assert len(failover) == 1
    assert (
        failover[0]["sourceInstanceId"] == ids["primary"] and failover[0]["targetInstanceId"] == ids["backup"]
    )
    assert failover[0]["attributes"] == {
        "type": "failover",
        "proxyId": "p1",
        "severity": "critical",
        "drill": "false",
    }
    assert failover[0]["eventId"] == str(events[0]["id"])
    assert len({m["id"] for m in messages}) == len(messages)


@pytest.mark.parametrize(("strategy", "expected"), [("round_robin", "c"), ("least_connections", "d")])
def test_failover_target_follows_the_strategy(db, fleet, strategy, expected):
    service = FailoverService(db)
    ids = make_proxy(
        service, fleet, "p2", ["a", "b", "c", "d"], failover_strategy=strategy, unhealthy_threshold=1
    )
    for name, conns in {"a": 1, "b": 90, "c": 50, "d": 3}.items():
        service.report_health(
            OWNER,
            ids[name],
            HealthStatus.HEALTHY,
            MetricsSample(connection_count=conns),
        )
    fleet.modes["p2-a"] = "fail"
    fleet.modes["p2-b"] = "fail"
    sweep(db)
    assert active_of(db, "p2") == ids[expected]


def test_failback_after_recovery_and_hold_down(db, fleet):
    service = FailoverService(db)
    ids = make_proxy(
        service,
        fleet,
        "p3",
        ["primary", "backup"],
        unhealthy_threshold=1,
        healthy_threshold=2,
        failback_hold_down_seconds=0,
    )
    sweep(db)
    fleet.modes["p3-primary"] = "fail"
    assert sweep(db).failovers == 1  # the Failovers metric
    assert active_of(db, "p3") == ids["backup"]
    fleet.modes["p3-primary"] = "ok"
    sweep(db)  # one success: still unhealthy (healthy_threshold 2)
    assert active_of(db, "p3") == ids["backup"]
    # healthy again; hold-down 0: traffic goes back, and a failback is no failover in the metric
    assert sweep(db).failovers == 0
    assert active_of(db, "p3") == ids["primary"]
    kinds = [
        r[0]
        for r in db.autocommit().run(
            "SELECT event_type FROM proxy_failover_events WHERE event_type <> 'recovery' ORDER BY started_at"
        )
    ]
    assert kinds == ["failover", "failback"]
    sweep(db)
    assert len(db.autocommit().run("SELECT 1 FROM proxy_failover_events WHERE event_type <> 'recovery'")) == 2


def test_recovery_notices_back_off_then_ask_for_a_human(db, fleet, sns):
    service = FailoverService(db)
    make_proxy(
        service,
        fleet,
        "p4",
        ["primary", "backup"],
        unhealthy_threshold=1,
        recovery_backoff_seconds=10,
        max_recovery_attempts=2,
    )
    fleet.modes["p4-backup"] = "fail"
    clock = [datetime.now(UTC)]

    def run():
        due_now(db)
        Sweeper(db, settings=settings(), clock=lambda: clock[0]).run_once()
        return [
            m["type"] for m in drain(sns) if m["type"] in {"recovery_needed", "manual_attention_required"}
        ]

    assert run() == ["recovery_needed"]
    assert run() == []  # backoff: not due again yet
    clock[0] += timedelta(seconds=13)  # first backoff is 10 s +/- 20% jitter
    assert run() == ["recovery_needed"]
    clock[0] += timedelta(seconds=25)  # second backoff is 20 s +/- 20%
    assert run() == ["manual_attention_required"]
    clock[0] += timedelta(hours=1)
    assert run() == []  # told once
    recovery = db.autocommit().rows_as_dicts(
        "SELECT status, error_message FROM proxy_failover_events WHERE event_type = 'recovery'"
    )
    assert [r["status"] for r in recovery] == ["failed"]


def test_forbidden_targets_are_never_contacted(db, fleet):
    service = FailoverService(db)
    make_proxy(service, fleet, "p5", ["a"])
    due_now(db)
    # The sweep runs with loopback forbidden: the instance registered earlier may not be probed now.
    Sweeper(db, settings=Settings.from_environ({})).run_once()
    assert fleet.hits["p5-a"] == 0
    assert statuses(db, "p5") == {"a": "unknown"}  # one refused check: below the unhealthy threshold


def test_notifications_survive_an_sns_outage(db, fleet, sns, monkeypatch):
    service = FailoverService(db)
    make_proxy(service, fleet, "p6", ["primary", "backup"], unhealthy_threshold=1)
    sweep(db)
    drain(sns)
    # Given SNS refuses every publish
    monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", sns["topic"] + "-missing")
    reset_settings()
    fleet.modes["p6-primary"] = "fail"
    sweep(db)
    assert drain(sns) == []
    pending = outbox.pending_count(db.autocommit())
    assert pending >= 2  # failover and instance_unhealthy at least
    # When SNS is back and the retry is due
    monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", sns["topic"])
    reset_settings()
    db.autocommit().run("UPDATE notification_outbox SET next_attempt_at = now() WHERE sent_at IS NULL")
    sweep(db)
    messages = drain(sns, routes=True)  # the outbox held the route_changed of the switch too
    # Then every held notification went out once
    assert outbox.pending_count(db.autocommit()) == 0
    assert len(messages) == pending == len({m["id"] for m in messages})
    assert "failover" in [m["type"] for m in messages]


def test_two_sweeps_at_once_check_each_instance_once(db, fleet):
    service = FailoverService(db)
    for k in range(30):
        make_proxy(service, fleet, f"c{k}", ["a", "b"])
    due_now(db)
    barrier = threading.Barrier(2)
    totals = []

    def run():
        sweeper = Sweeper(db, settings=settings(sweep_batch_size=7))
        barrier.wait()
        totals.append(sweeper.run_once().checks)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(totals) == 60
    assert set(fleet.hits.values()) == {1} and len(fleet.hits) == 60


def test_scheduled_entry_point_runs_until_its_deadline(db, fleet, monkeypatch, capsys):
    service = FailoverService(db)
    make_proxy(service, fleet, "p7", ["a"], health_check_interval_seconds=1, health_check_timeout_seconds=1)
    db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now()")

    class Context:
        def __init__(self):
            import time

            self.deadline = time.monotonic() + 5.5

        def get_remaining_time_in_millis(self):
            import time

            return int((self.deadline - time.monotonic()) * 1000)

    monkeypatch.setenv("SWEEP_DEADLINE_MARGIN_SECONDS", "2")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    reset_settings()
    capsys.readouterr()
    summary = run_dispatcher({}, Context())
    assert 2 <= summary["checks"] <= 5  # one invocation, several 1 s intervals: one check each
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[-1]["ChecksPerformed"] in (summary["checks"], [summary["checks"]])
    assert emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ProxyFailover"


def test_refused_connection_counts_as_a_failed_check(db, fleet):
    service = FailoverService(db)
    service.put_config(
        OWNER,
        "p8",
        {"unhealthy_threshold": 1, "health_check_interval_seconds": 10, "health_check_timeout_seconds": 1},
    )
    service.register_instance(
        OWNER,
        "p8",
        {
            "instance_name": "gone",
            "instance_type": "standard",
            "priority": 1,
            "weight": 1,
            "health_check_url": f"tcp://127.0.0.1:{closed_port()}",
        },
    )
    sweep(db)
    assert statuses(db, "p8") == {"gone": "unhealthy"}


class _Invocation:
    """A Lambda context with `seconds` left."""

    def __init__(self, seconds: float) -> None:
        import time

        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        import time

        return int((self.deadline - time.monotonic()) * 1000)


def _finishes(work, within: float = 20.0) -> bool:
    done = threading.Event()
    thread = threading.Thread(target=lambda: (work(), done.set()), daemon=True)
    thread.start()
    return done.wait(within)


def test_an_idle_fleet_costs_one_short_invocation(db, fleet):
    # Given no proxy at all, then proxies whose intervals are all longer than the schedule's period
    assert _finishes(lambda: run_dispatcher({}, _Invocation(60))), "an empty fleet kept the sweep running"
    service = FailoverService(db)
    make_proxy(
        service, fleet, "slow", ["a"], health_check_interval_seconds=300, health_check_timeout_seconds=2
    )
    due_now(db)
    box = {}
    assert _finishes(lambda: box.setdefault("summary", run_dispatcher({}, _Invocation(60))))
    # Then each invocation did what was due and returned, long before its 60 s
    assert box["summary"]["checks"] == 1


def test_a_sweep_worker_runs_longer_than_the_schedules_period_so_consecutive_ones_overlap():
    from proxy_failover.sweep import sweep_budget

    from local.apigw import load_template
    from tests.helpers import ROOT

    resources = load_template(ROOT / "template.yaml")["Resources"]
    dispatcher = resources["SweepFunction"]["Properties"]
    worker = resources["SweepWorkerFunction"]["Properties"]
    variables = worker["Environment"]["Variables"]
    # the literal settings (a parameter's reference is the template's business)
    deployed = Settings.from_environ({k: v for k, v in variables.items() if isinstance(v, str)})
    schedule = dispatcher["Events"]["EveryMinute"]["Properties"]["Schedule"]
    assert schedule == f"rate({int(deployed.sweep_schedule_seconds) // 60} minute)"
    # a worker runs past the next dispatch, and ends (with its margin) within its own timeout
    assert deployed.sweep_run_seconds > deployed.sweep_schedule_seconds
    assert sweep_budget(worker["Timeout"], deployed) == deployed.sweep_run_seconds
    assert sweep_budget(5.0, deployed) == 5.0 - deployed.sweep_deadline_margin_seconds
    assert sweep_budget(None, deployed) == 0.0


SCHEDULED = """
import json, sys
from proxy_failover.dispatch import run_dispatcher
from proxy_failover.domain.models import HealthStatus, MetricsSample

class Context:
    function_name = "SweepFunction"
    aws_request_id = "sweep-request"
    def get_remaining_time_in_millis(self):
        return 4000

print(json.dumps({"summary": run_dispatcher({}, Context())}))
"""


def test_the_scheduled_run_logs_a_run_id_and_emits_its_heartbeat_with_stage_and_cold_start(db, fleet):
    import subprocess
    import sys

    from tests.helpers import ROOT

    service = FailoverService(db)
    make_proxy(
        service, fleet, "seen", ["a"], health_check_interval_seconds=300, health_check_timeout_seconds=2
    )
    due_now(db)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT / "shared"),
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "PROBE_ALLOW_LOOPBACK": "true",
        "STAGE": "test",
        "POWERTOOLS_SERVICE_NAME": "edge-control",
        "SWEEP_DEADLINE_MARGIN_SECONDS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCHEDULED], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    finished = next(line for line in lines if line.get("message") == "dispatch finished")
    assert len(finished["run_id"]) == 12 and finished["function_name"] == "SweepFunction"
    assert finished["cold_start"] is True and finished["checks"] == 1
    emf = next(line for line in lines if "_aws" in line)
    declared = emf["_aws"]["CloudWatchMetrics"][0]
    assert declared["Namespace"] == "ProxyFailover"
    assert sorted(declared["Dimensions"][0]) == ["Stage", "service"] and emf["Stage"] == "test"
    names = {m["Name"] for m in declared["Metrics"]}
    assert {
        "SweepCompleted",
        "SweepLagSeconds",
        "ColdStart",
        "OutboxOldestPendingSeconds",
        "ChecksPerformed",
        "DueProxies",
        "WorkersStarted",
    } <= names
    assert emf["service"] == "edge-control"
