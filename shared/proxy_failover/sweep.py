"""The scheduled run: claim due proxies, probe their instances, apply the results through the engine,
fail over where needed, publish what happened. Runs until shortly before its deadline, so per-proxy
intervals from 1 s to 59 s are honoured although EventBridge fires once a minute."""

from __future__ import annotations

import resource
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from .checks.policy import TargetPolicy
from .checks.probes import Prober, ProbeRequest, ProbeResult
from .domain.models import SYSTEM_ACTOR, HealthStatus
from .engine import Check, Step
from .notify.relay import BackgroundPublisher
from .observability import begin_invocation, end_invocation, get_logger, metrics
from .service.unit_of_work import UnitOfWork
from .settings import Settings, get_settings
from .store import claims, outbox, proxies
from .store.proxies import ProxyAggregate

logger = get_logger(__name__)


@dataclass(slots=True)
class SweepStats:
    proxies: int = 0
    checks: int = 0
    failures: int = 0
    failovers: int = 0
    notifications: int = 0
    batches: int = 0
    probe_latency_ms: list[float] = field(default_factory=list)

    def add(self, other: SweepStats) -> None:
        self.proxies += other.proxies
        self.checks += other.checks
        self.failures += other.failures
        self.failovers += other.failovers
        self.notifications += other.notifications
        self.batches += other.batches
        self.probe_latency_ms.extend(other.probe_latency_ms)

    def summary(self) -> dict[str, Any]:
        return {
            "proxies": self.proxies,
            "checks": self.checks,
            "failures": self.failures,
            "failovers": self.failovers,
            "notifications": self.notifications,
            "batches": self.batches,
        }


def _raise_file_limit() -> None:
    """Many probes at once need many sockets: lift the soft descriptor limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Sweeper(UnitOfWork):
    """A writer like the API's use cases (the same unit of work and engine), whose changes come from
    its own probes and whose notifications go out on a thread of their own."""

    @cached_property
    def prober(self) -> Prober:
        _raise_file_limit()
        settings = self.settings
        policy = TargetPolicy.from_settings(settings.probe_allow_loopback, settings.probe_allowed_cidrs)
        return Prober(policy, settings.probe_concurrency)

    @cached_property
    def publisher(self) -> BackgroundPublisher:
        return BackgroundPublisher(self.db, self.settings)

    def run_once(self, *, flush_seconds: float = 10.0) -> SweepStats:
        """Process every proxy due now, batch by batch; then wait (at most `flush_seconds`) for the
        notifications to be published and leftovers relayed."""
        total = self._pass()
        self._flush(total, flush_seconds)
        return total

    def _pass(self) -> SweepStats:
        total = SweepStats()
        while True:
            stats = self.process_batch()
            if stats is None:
                break
            total.add(stats)
        self.conclude_due()
        return total

    def conclude_due(self) -> int:
        """End the drills and maintenance whose time is up on proxies no check is due for (a write ends
        them: the engine does it on every one). Returns how many proxies it wrote."""
        due = claims.deadlines_due(self.db.autocommit(), self.settings.sweep_batch_size)
        if not due:
            return 0
        self.write(
            lambda con: proxies.lock_proxies(con, due),
            lambda aggregate, now: Step(allow_automatic=False),
            actor=SYSTEM_ACTOR,
            publish=self.publisher.submit,
        )
        return len(due)

    def _flush(self, total: SweepStats, seconds: float) -> None:
        """Wait for this run's notifications, then stop the publisher's thread (and close its
        connection): a sweeper left idle holds nothing open. The next run starts it again."""
        before = self.publisher.sent
        self.publisher.close(seconds)
        total.notifications += self.publisher.sent - before

    def run_until(self, deadline: float, *, idle_sleep_cap: float = 1.0) -> SweepStats:
        """Keep sweeping until `deadline` (time.monotonic) while some proxy's interval is shorter than
        the schedule's period (only then can work fall due before the next invocation); otherwise do
        what is due and return, so an idle fleet costs one short invocation a minute. Publishing runs
        beside the checks the whole time; only the end waits for it, within the deadline."""
        total = SweepStats()
        sent_before = self.publisher.sent
        shortest = claims.shortest_interval(self.db.autocommit())
        stay = shortest is not None and shortest < self.settings.sweep_schedule_seconds
        try:
            while True:
                total.add(self._pass())
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not stay:
                    return total
                wait = claims.seconds_until_next_due(self.db.autocommit())
                pause = min(remaining, idle_sleep_cap if wait is None else min(wait, idle_sleep_cap))
                if pause >= remaining:
                    return total
                time.sleep(max(pause, 0.01))
        finally:
            self.publisher.close(max(0.5, deadline - time.monotonic()))
            total.notifications += self.publisher.sent - sent_before

    def process_batch(self) -> SweepStats | None:
        con = self.db.autocommit()
        claimed = claims.claim_due(con, self.settings.sweep_batch_size)
        if not claimed:
            return None
        proxy_ids = [c.proxy_id for c in claimed]
        timeouts = {c.proxy_id: c.timeout_seconds for c in claimed}
        targets = claims.probe_targets(con, proxy_ids)
        results = self.prober.run(
            [ProbeRequest(t.instance_id, t.url, timeouts[t.proxy_id], t.probe) for t in targets]
        )
        stats = self.apply(proxy_ids, {r.instance_id: r for r in results})
        stats.proxies = len(proxy_ids)
        stats.batches = 1
        return stats

    def apply(self, proxy_ids: list[str], results: dict[str, ProbeResult]) -> SweepStats:
        """One transaction for the whole batch, through the engine like every other writer."""
        checks = {
            instance_id: Check(
                HealthStatus.HEALTHY if r.healthy else HealthStatus.UNHEALTHY, latency_ms=r.latency_ms
            )
            for instance_id, r in results.items()
        }

        def step(aggregate: ProxyAggregate, now: datetime) -> Step:
            found = {i.id: checks[i.id] for i in aggregate.instances if i.id in checks}
            found.update(expired_reports(aggregate, now, probed=found))
            return Step(checks=found)

        outcomes = self.write(
            lambda con: proxies.lock_proxies(con, proxy_ids),
            step,
            actor=SYSTEM_ACTOR,
            publish=self.publisher.submit,
        )
        return SweepStats(
            checks=len(results),
            failures=sum(1 for r in results.values() if not r.healthy),
            failovers=sum(1 for o in outcomes if o.event is not None),
            probe_latency_ms=[r.latency_ms for r in results.values() if r.latency_ms is not None],
        )


EXPIRED = Check(HealthStatus.UNHEALTHY, reason="report_ttl_expired", real=False)


def expired_reports(
    aggregate: ProxyAggregate, now: datetime, *, probed: Mapping[str, Check]
) -> dict[str, Check]:
    """A failed check for each instance whose latest result (probe or report) is older than the
    proxy's reportTtlSeconds, once per interval (the claim's cadence) until a fresh one comes: an
    instance that stops reporting is noticed within about TTL + threshold x interval."""
    ttl = aggregate.config.report_ttl_seconds
    if ttl is None:
        return {}
    cutoff = now - timedelta(seconds=ttl)
    return {
        i.id: EXPIRED
        for i in aggregate.instances
        if i.id not in probed and (i.last_result_at or i.created_at or now) < cutoff
    }


def sweep_budget(remaining_seconds: float | None, settings: Settings) -> float:
    """Seconds this invocation sweeps: SWEEP_RUN_SECONDS, cut short by the invocation's own deadline."""
    if remaining_seconds is None:
        return 0.0
    return max(
        0.0, min(settings.sweep_run_seconds, remaining_seconds - settings.sweep_deadline_margin_seconds)
    )


def run_scheduled(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The EventBridge entry point: sweep until shortly before the invocation's deadline, then report.
    `SweepCompleted` is the heartbeat an alarm watches: a missing one means the sweep stopped."""
    started = time.perf_counter()
    settings = get_settings()
    invocation = begin_invocation(context, settings, run_id=uuid.uuid4().hex[:12])
    try:
        remaining = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            remaining = context.get_remaining_time_in_millis() / 1000.0
        sweeper = Sweeper(settings=settings)
        stats = sweeper.run_until(time.monotonic() + sweep_budget(remaining, settings))
        backlog = outbox.oldest_pending_seconds(sweeper.db.autocommit())
        _emit(settings, stats, backlog, (time.perf_counter() - started) * 1000.0)
        logger.info("sweep finished", extra={**stats.summary(), "outbox_oldest_pending_seconds": backlog})
        return stats.summary()
    finally:
        end_invocation(invocation)


def _emit(settings: Settings, stats: SweepStats, backlog: float, duration_ms: float) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    emf = metrics(settings)
    emf.add_metric(name="SweepCompleted", unit=MetricUnit.Count, value=1)
    emf.add_metric(name="ProxiesSwept", unit=MetricUnit.Count, value=stats.proxies)
    emf.add_metric(name="ChecksPerformed", unit=MetricUnit.Count, value=stats.checks)
    emf.add_metric(name="CheckFailures", unit=MetricUnit.Count, value=stats.failures)
    emf.add_metric(name="Failovers", unit=MetricUnit.Count, value=stats.failovers)
    emf.add_metric(name="NotificationsPublished", unit=MetricUnit.Count, value=stats.notifications)
    emf.add_metric(name="OutboxOldestPendingSeconds", unit=MetricUnit.Seconds, value=backlog)
    if stats.probe_latency_ms:
        ordered = sorted(stats.probe_latency_ms)
        emf.add_metric(name="ProbeLatencyP50", unit=MetricUnit.Milliseconds, value=ordered[len(ordered) // 2])
        emf.add_metric(name="ProbeLatencyMax", unit=MetricUnit.Milliseconds, value=ordered[-1])
    emf.add_metric(name="SweepDuration", unit=MetricUnit.Milliseconds, value=duration_ms)
    emf.flush_metrics()
