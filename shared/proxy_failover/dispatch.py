"""The sweep as a fleet. The scheduled dispatcher measures the backlog (proxies due, how late the oldest
is, the checks falling due within the next run) and starts as many sweep workers as that needs, up to
SWEEP_MAX_WORKERS: one message each on the work queue, whose consumer function runs a worker
(`sweep.Sweeper`) with the queue's maximum concurrency. Workers claim with FOR UPDATE SKIP LOCKED, so
any number of them split the work and none checks a proxy twice in an interval. The dispatcher also
relays notifications left unsent, ends due drills and maintenance, and enforces retention.

Without a work queue (SWEEP_WORK_QUEUE_URL unset) the dispatcher runs the one worker itself."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import timedelta
from typing import Any, NamedTuple

from .observability import begin_invocation, end_invocation, get_logger
from .settings import Settings, get_settings
from .store import claims, outbox, retention
from .store.claims import Backlog
from .store.db import Database, get_database
from .sweep import Sweeper, SweepStats, emit_sweep_metrics, sweep_budget

logger = get_logger(__name__)


class WorkerPlan(NamedTuple):
    workers: int
    checks_per_second: float  # the demand the workers are sized for


def workers_needed(backlog: Backlog, settings: Settings) -> WorkerPlan:
    """Enough workers for the checks falling due within the next run, at each worker's measured rate
    (SWEEP_WORKER_CHECKS_PER_SECOND), one more per interval of backlog beyond the lag target, capped at
    SWEEP_MAX_WORKERS; none when nothing falls due."""
    window = settings.sweep_run_seconds
    demand = backlog.checks_in_window / window
    if backlog.checks_in_window <= 0 and backlog.due_proxies == 0:
        return WorkerPlan(0, 0.0)
    workers = max(1, math.ceil(demand / settings.sweep_worker_checks_per_second - 1e-9))
    if backlog.lag_seconds > settings.sweep_lag_target_seconds:
        workers += math.ceil(backlog.lag_seconds / max(1.0, settings.sweep_lag_target_seconds))
    return WorkerPlan(min(workers, settings.sweep_max_workers), demand)


def start_workers(
    count: int, settings: Settings, run_id: str, queue_url: str, vantage: str, *, ttl: bool = True
) -> int:
    """One message per worker on the vantage's work queue (batches of ten, each call bounded and made
    once: the next dispatch is the retry). Returns how many were queued."""
    if count <= 0:
        return 0
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "sqs",
        config=Config(
            connect_timeout=settings.sqs_connect_timeout_seconds,
            read_timeout=settings.sqs_read_timeout_seconds,
            retries={"total_max_attempts": 1},
        ),
    )
    queued = 0
    for start in range(0, count, 10):
        entries = [
            {
                "Id": str(k),
                "MessageBody": json.dumps({"run": run_id, "worker": k, "vantage": vantage, "ttl": ttl}),
            }
            for k in range(start, min(count, start + 10))
        ]
        try:
            answer = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:
            logger.warning("could not start workers", extra={"error": f"{type(exc).__name__}: {exc}"})
            break
        queued += len(answer.get("Successful", []))
    return queued


class VantageDispatch(NamedTuple):
    backlog: Backlog
    plan: WorkerPlan
    started: int


class Dispatch(NamedTuple):
    backlog: Backlog  # every vantage's together (the lag: the worst)
    plan: WorkerPlan
    started: int
    relayed: int
    retained: dict[str, int]
    inline: SweepStats | None  # the sweep the dispatcher ran itself (no work queue)
    vantages: dict[str, VantageDispatch]
    released: int  # proxies a release of the brake made the dispatcher look at again


def dispatch(db: Database, settings: Settings, *, run_id: str, deadline: float) -> Dispatch:
    """Start each vantage's workers for its own backlog (or, without work queues, sweep as the one
    vantage); end due drills and maintenance; after a release of the brake, switch what still should;
    judge whether any vantage can still see; relay what was left unsent; enforce retention."""
    from .notify.relay import relay_pending
    from .store import fleet

    con = db.autocommit()
    queues = settings.vantage_queues
    for vantage in queues:
        claims.know_vantage(con, vantage)  # configured: counted absent until it runs
    sweeper = Sweeper(db, settings=settings)
    # after a release of the brake, before anything else: what would have switched meanwhile, now
    released = sweeper.reconcile_all(deadline) if fleet.take_release(con) else 0
    per: dict[str, VantageDispatch] = {}
    inline = None
    for vantage, url in queues.items():
        found = claims.backlog(con, vantage, settings.sweep_run_seconds)
        plan = workers_needed(found, settings)
        per[vantage] = VantageDispatch(
            found, plan, start_workers(plan.workers, settings, run_id, url, vantage)
        )
        if plan.workers == 0:
            # Nothing for it to check, so no worker of it runs: idle is not absent (an empty fleet
            # must not read as a checker outage). Its clock starts again when work falls due.
            claims.vantage_idle(con, vantage)
    if queues:
        sweeper.conclude_due()
    else:
        found = claims.backlog(con, settings.sweep_vantage, settings.sweep_run_seconds)
        plan = workers_needed(found, settings)
        per[settings.sweep_vantage] = VantageDispatch(found, plan, 0)
        inline = sweeper.run_until(deadline)
    sweeper.judge_the_fleet()
    sweeper.publisher.close(max(0.5, deadline - time.monotonic()))
    relayed = relay_pending(db, settings)["sent"] if settings.notifications_topic_arn else 0
    retained = retention.enforce(
        db.autocommit(),
        db_now(db),
        {
            "metrics": timedelta(days=settings.retention_metrics_days),
            "sent_notifications": timedelta(days=settings.retention_sent_notifications_days),
            "events": timedelta(days=settings.retention_events_days),
            "removed_config_versions": timedelta(days=settings.retention_events_days),
            "report_keys": timedelta(hours=1),
            "storm_pages": timedelta(minutes=5),  # a storm's window is one minute
        },
        batch_rows=settings.retention_batch_rows,
        budget_seconds=min(settings.retention_budget_seconds, max(0.0, deadline - time.monotonic())),
    )
    backlogs = [v.backlog for v in per.values()]
    total = Backlog(
        sum(b.due_proxies for b in backlogs),
        max((b.lag_seconds for b in backlogs), default=0.0),
        sum(b.checks_in_window for b in backlogs),
    )
    plans = WorkerPlan(
        sum(v.plan.workers for v in per.values()), sum(v.plan.checks_per_second for v in per.values())
    )
    started = sum(v.started for v in per.values())
    return Dispatch(total, plans, started, relayed, retained, inline, per, released)


def db_now(db: Database) -> Any:
    return db.autocommit().run("SELECT now()")[0][0]


def run_dispatcher(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The EventBridge entry point (every minute). `SweepCompleted` is the heartbeat an alarm watches
    (a missing one means nothing is dispatching); `SweepLagSeconds` says whether the workers keep up."""
    started_at = time.perf_counter()
    settings = get_settings()
    run_id = uuid.uuid4().hex[:12]
    invocation = begin_invocation(context, settings, run_id=run_id)
    try:
        remaining = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            remaining = context.get_remaining_time_in_millis() / 1000.0
        db = get_database()
        done = dispatch(
            db, settings, run_id=run_id, deadline=time.monotonic() + sweep_budget(remaining, settings)
        )
        pending = outbox.oldest_pending_seconds(db.autocommit())
        # The backlog's lag was measured moments ago; only a sweep the dispatcher ran itself moves it.
        lag = (
            done.backlog.lag_seconds
            if done.inline is None
            else claims.lag_seconds(db.autocommit(), settings.sweep_vantage)
        )
        summary = {
            "due_proxies": done.backlog.due_proxies,
            "lag_seconds": round(done.backlog.lag_seconds, 3),
            "checks_per_second_needed": round(done.plan.checks_per_second, 1),
            "workers_wanted": done.plan.workers,
            "workers_started": done.started,
            "notifications_relayed": done.relayed,
            "retention_deleted": done.retained,
            "vantages": {
                name: {"due_proxies": v.backlog.due_proxies, "workers_started": v.started}
                for name, v in done.vantages.items()
            },
            "released": done.released,
        }
        if done.inline is not None:
            summary.update(done.inline.summary())
        counts = {
            "DueProxies": done.backlog.due_proxies,
            "WorkersStarted": done.started,
            "ChecksPerSecondNeeded": done.plan.checks_per_second,
            "RetentionDeletedRows": sum(done.retained.values()),
        }
        duration_ms = (time.perf_counter() - started_at) * 1000.0
        emit_sweep_metrics(settings, done.inline or SweepStats(), pending, lag, duration_ms, counts)
        logger.info("dispatch finished", extra={**summary, "outbox_oldest_pending_seconds": pending})
        return summary
    finally:
        end_invocation(invocation)
