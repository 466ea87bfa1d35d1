"""The scheduled run: claim due proxies, probe their instances, apply the results through the engine,
fail over where needed, publish what happened. Runs until shortly before its deadline, so per-proxy
intervals from 1 s to 59 s are honoured although EventBridge fires once a minute."""

from __future__ import annotations

import json
import math
import resource
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, partial
from typing import Any

from .checks.policy import TargetPolicy
from .checks.probes import CANARY, ProbeLoop, Prober, ProbeRequest, ProbeResult
from .domain.change import Check, Step
from .domain.models import SYSTEM_ACTOR, EventType, HealthStatus, ProxyAggregate
from .notify.relay import BackgroundPublisher
from .observability import begin_invocation, emit_metric, end_invocation, get_logger, metrics
from .service.unit_of_work import UnitOfWork
from .settings import Settings, get_settings
from .store import claims, locks, outbox
from .store.db import Connection

logger = get_logger(__name__)


@dataclass(slots=True)
class SweepStats:
    proxies: int = 0
    checks: int = 0
    failures: int = 0
    failovers: int = 0
    notifications: int = 0
    batches: int = 0
    discarded: int = 0  # check results thrown away: the vantage's canaries all failed with them
    probe_latency_ms: list[float] = field(default_factory=list)

    def add(self, other: SweepStats) -> None:
        self.discarded += other.discarded
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
            "discarded": self.discarded,
        }


def _raise_file_limit() -> None:
    """Many probes at once need many sockets: lift the soft descriptor limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# How often a running worker says it is still running, at most (and at least twice a dispatch period:
# its vantage is absent after two).
HEARTBEAT_SECONDS = 5.0

# With due times spread over the interval, something falls due every few milliseconds: looking again
# no sooner than this gathers it into batches (fewer, larger transactions) at the cost of this much lag.
LOOK_AGAIN_SECONDS = 0.25


class Sweeper(UnitOfWork):
    """A sweep worker: a writer like the API's use cases (the same unit of work and engine), whose
    changes come from its own probes and whose notifications go out on a thread of their own.

    Batches flow through a pipeline: claimed batches are probed on the probe loop's thread while this
    thread writes the results of those already done, each as soon as its own probes are; a batch
    waiting for a slow probe holds up no other, and new work is claimed as probes finish."""

    @cached_property
    def prober(self) -> Prober:
        _raise_file_limit()
        settings = self.settings
        policy = TargetPolicy.from_settings(settings.probe_allow_loopback, settings.probe_allowed_cidrs)
        source = settings.source_address(settings.sweep_vantage)
        return Prober(policy, settings.probe_concurrency, source_address=source)

    @property
    def vantage(self) -> str:
        return self.settings.sweep_vantage

    @cached_property
    def probe_loop(self) -> ProbeLoop:
        """Probes on a loop of their own; for a vantage in another region, batches forwarded to it."""
        if self.settings.sweep_forward_queue_url:
            from .checks.forward import ForwardLoop

            return ForwardLoop(self.settings)  # type: ignore[return-value]
        return ProbeLoop(self.prober)

    @cached_property
    def publisher(self) -> BackgroundPublisher:
        return BackgroundPublisher(self.db, self.settings)

    def run_once(self, *, flush_seconds: float = 10.0) -> SweepStats:
        """Process every proxy due now; then wait (at most `flush_seconds`) for the notifications to be
        published and leftovers relayed."""
        total = self._sweep(None, stay=False)
        self._flush(total, flush_seconds)
        return total

    def run_until(self, deadline: float, *, idle_sleep_cap: float = 1.0) -> SweepStats:
        """Keep sweeping until `deadline` (time.monotonic) while some proxy's interval is shorter than
        the schedule's period (only then can work fall due before the next invocation); otherwise do
        what is due and return, so an idle fleet costs one short invocation a minute. Publishing runs
        beside the checks the whole time; only the end waits for it, within the deadline."""
        sent_before = self.publisher.sent
        shortest = claims.shortest_interval(self.db.autocommit())
        stay = shortest is not None and shortest < self.settings.sweep_schedule_seconds
        total = SweepStats()
        try:
            total = self._sweep(deadline, stay=stay, idle_sleep_cap=idle_sleep_cap)
        finally:
            self.publisher.close(max(0.5, deadline - time.monotonic()))
            total.notifications += self.publisher.sent - sent_before
        return total

    def _sweep(self, deadline: float | None, *, stay: bool, idle_sleep_cap: float = 1.0) -> SweepStats:
        """The pipeline. Claims a batch whenever fewer than PROBE_CONCURRENCY probes are pending (a
        batch waiting for one hanging probe holds one of them, not the pipeline), writes each batch as
        soon as its probes are done, and looks for newly due work while others are in flight. Stops
        claiming at `deadline` (or, without `stay`, once nothing is due) and finishes what is in
        flight."""
        total = SweepStats()
        settings = self.settings
        con = self.db.autocommit()
        claims.register_vantage(con, self.vantage)  # known, and seen running (the majority's "absent")
        heartbeat = time.monotonic()
        in_flight: dict[Future[list[ProbeResult]], list[str]] = {}
        next_look = time.monotonic()  # when to claim next (math.inf: never again)
        full = False  # the last look stopped because the probes were full
        try:
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    next_look = math.inf
                if now - heartbeat >= min(HEARTBEAT_SECONDS, settings.sweep_schedule_seconds / 2):
                    claims.register_vantage(con, self.vantage)
                    heartbeat = now
                if now >= next_look:
                    # with the probes full: look again when a batch is done, or shortly (no busy loop)
                    full, next_look = True, now + LOOK_AGAIN_SECONDS
                    while self.probe_loop.pending < settings.probe_concurrency:
                        claimed = claims.claim_due(con, self.vantage, settings.sweep_batch_size)
                        if not claimed:
                            self.conclude_due()
                            full, next_look = False, self._next_look(con, stay, idle_sleep_cap)
                            break
                        proxy_ids = [c.proxy_id for c in claimed]
                        timeouts = {c.proxy_id: c.timeout_seconds for c in claimed}
                        requests = [
                            ProbeRequest(t.instance_id, t.url, timeouts[t.proxy_id], t.probe)
                            for t in claims.probe_targets(con, proxy_ids)
                        ]
                        requests += self._canaries(min(timeouts.values()))
                        in_flight[self.probe_loop.submit(requests)] = proxy_ids
                pause = None if next_look == math.inf else max(0.0, next_look - time.monotonic())
                if deadline is not None and pause is not None:
                    pause = min(pause, max(0.0, deadline - time.monotonic()))
                if not in_flight:
                    if pause is None:
                        return total
                    time.sleep(max(pause, 0.005))
                    continue
                done, _ = wait(in_flight, timeout=pause, return_when=FIRST_COMPLETED)
                for future in done:
                    proxy_ids = in_flight.pop(future)
                    stats = self.apply(proxy_ids, {r.instance_id: r for r in future.result()})
                    stats.proxies, stats.batches = len(proxy_ids), 1
                    total.add(stats)
                if done and full and next_look != math.inf:
                    next_look = time.monotonic()  # room again: claim now
        finally:
            self._close_probe_loop()

    def _next_look(self, con: Connection, stay: bool, cap: float) -> float:
        """Nothing due now: when to look again (never, unless the sweep stays)."""
        if not stay:
            return math.inf
        wait_s = claims.seconds_until_next_due(con, self.vantage)
        return time.monotonic() + min(cap, max(LOOK_AGAIN_SECONDS, cap if wait_s is None else wait_s))

    def _close_probe_loop(self) -> None:
        loop = self.__dict__.pop("probe_loop", None)
        if loop is not None:
            loop.close()

    def _flush(self, total: SweepStats, seconds: float) -> None:
        """Wait for this run's notifications, then stop the publisher's thread (and close its
        connection): a sweeper left idle holds nothing open. The next run starts it again."""
        before = self.publisher.sent
        self.publisher.close(seconds)
        total.notifications += self.publisher.sent - before

    def reconcile_all(self, deadline: float) -> int:
        """After the brake is released: every proxy through the engine once, in batches (no checks), so
        that what would have switched meanwhile switches now, if it still should. Returns how many
        proxies it looked at."""
        con = self.db.autocommit()
        seen, after = 0, ""
        while seen == 0 or time.monotonic() < deadline:
            batch = claims.proxies_after(con, after, self.settings.sweep_batch_size)
            if not batch:
                break
            locking: Callable[[Connection], list[str]] = partial(locks.lock_proxies, proxy_ids=batch)
            self.write(
                locking,
                lambda aggregate, now: Step(),
                actor=SYSTEM_ACTOR,
                publish=self.publisher.submit,
            )
            seen, after = seen + len(batch), batch[-1]
        return seen

    def conclude_due(self) -> int:
        """End the drills and maintenance whose time is up on proxies no check is due for (a write ends
        them: the engine does it on every one). Returns how many proxies it wrote."""
        due = claims.deadlines_due(self.db.autocommit(), self.settings.sweep_batch_size)
        if not due:
            return 0
        self.write(
            lambda con: locks.lock_proxies(con, due),
            lambda aggregate, now: Step(allow_automatic=False),
            actor=SYSTEM_ACTOR,
            publish=self.publisher.submit,
        )
        return len(due)

    def _canaries(self, timeout: float) -> list[ProbeRequest]:
        """The canaries, probed with every batch: the same moment, the same network path."""
        return [
            ProbeRequest(f"{CANARY}{k}", url, timeout)
            for k, url in enumerate(self.settings.sweep_canary_urls)
        ]

    def _impaired(self, canaries: list[ProbeResult]) -> bool:
        """Whether this vantage could see when it probed a batch: with canaries configured, not when every
        one of them failed. A change is stored, and announced, once."""
        from .domain.safety import canaries_blind, vantage_notice
        from .engine import outbox_row
        from .store import fleet

        blind = canaries_blind([c.healthy for c in canaries])
        if not canaries:
            return False
        if blind != self._last_blind:
            notice = vantage_notice(self.vantage, blind, self.settings.sweep_canary_urls)
            row = outbox_row(notice, None, None, self.clock())
            grace = self.settings.outbox_grace_seconds
            if fleet.set_impaired(self.db.autocommit(), self.vantage, blind, row, grace):
                self.publisher.submit([row])
                self.judge_the_fleet()
            self._last_blind = blind
        return blind

    _last_blind: bool | None = None

    def judge_the_fleet(self) -> None:
        """Checks suspended when no vantage can see (all impaired or absent), resumed when one can: one
        notice per change, whoever notices first (any vantage, or the dispatcher)."""
        from .domain.safety import checks_notice, none_can_see
        from .engine import outbox_row
        from .store import fleet

        con = self.db.autocommit()
        now = self.clock()
        absent_after = 2 * self.settings.sweep_schedule_seconds
        known = fleet.vantages(con)
        suspended = none_can_see(known, now, absent_after)
        if suspended == fleet.safety(con).checks_suspended:
            return
        row = outbox_row(checks_notice(suspended, known, now, absent_after), None, None, now)
        if fleet.set_checks_suspended(con, suspended, row, self.settings.outbox_grace_seconds):
            self.publisher.submit([row])

    def apply(
        self, proxy_ids: list[str], results: dict[str, ProbeResult], *, checked_at: datetime | None = None
    ) -> SweepStats:
        """One transaction for the whole batch, through the engine like every other writer; nothing at
        all when this vantage's canaries all failed with the batch (it cannot see: its results say
        nothing about the instances). `checked_at`: when the probes were made (a remote vantage's)."""
        canaries = [r for i, r in results.items() if i.startswith(CANARY)]
        results = {i: r for i, r in results.items() if not i.startswith(CANARY)}
        if self._impaired(canaries):
            return SweepStats(discarded=len(results))
        ttl = self.settings.sweep_ttl_checks
        if not results and not ttl:
            return SweepStats()  # nothing to write (a batch forwarded to another region)
        checks = {
            instance_id: Check(
                HealthStatus.HEALTHY if r.healthy else HealthStatus.UNHEALTHY,
                latency_ms=r.latency_ms,
                reason=None if r.healthy else r.error,
                vantage=self.vantage,
                checked_at=checked_at,
            )
            for instance_id, r in results.items()
        }

        def step(aggregate: ProxyAggregate, now: datetime) -> Step:
            found = {i.id: checks[i.id] for i in aggregate.instances if i.id in checks}
            if ttl:
                found.update(expired_reports(aggregate, now, probed=found))
            return Step(checks=found)

        changes = self.write(
            lambda con: locks.lock_proxies(con, proxy_ids),
            step,
            actor=SYSTEM_ACTOR,
            publish=self.publisher.submit,
        )
        return SweepStats(
            checks=len(results),
            failures=sum(1 for r in results.values() if not r.healthy),
            failovers=sum(1 for c in changes if c.switch and c.switch.event_type is EventType.FAILOVER),
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


def run_worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A sweep worker's entry point (a message of the dispatcher's on the work queue, or any direct
    invocation): sweep until shortly before the invocation's deadline, then report, the lag included."""
    started = time.perf_counter()
    settings = get_settings()
    invocation = begin_invocation(context, settings, run_id=uuid.uuid4().hex[:12])
    try:
        remaining = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            remaining = context.get_remaining_time_in_millis() / 1000.0
        vantage = message_field(event, "vantage")
        if isinstance(vantage, str) and vantage != settings.sweep_vantage:
            settings = settings._replace(sweep_vantage=vantage).checked()
        if message_field(event, "ttl") is False:
            settings = settings._replace(sweep_ttl_checks=False)
        sweeper = Sweeper(settings=settings)
        stats = sweeper.run_until(time.monotonic() + sweep_budget(remaining, settings))
        con = sweeper.db.autocommit()
        backlog, lag = outbox.oldest_pending_seconds(con), claims.lag_seconds(con, sweeper.vantage)
        emit_sweep_metrics(settings, stats, backlog, lag, (time.perf_counter() - started) * 1000.0)
        # the vantage's heartbeat: an alarm per vantage (missing data breaching) says one stopped
        emit_metric(settings, "VantageRuns", 1, dimensions={"Vantage": sweeper.vantage})
        logger.info(
            "sweep finished",
            extra={
                **stats.summary(),
                "outbox_oldest_pending_seconds": backlog,
                "lag_seconds": round(lag, 3),
                "dispatch_run": message_field(event, "run"),
                "vantage": sweeper.vantage,
            },
        )
        return stats.summary()
    finally:
        end_invocation(invocation)


def message_field(event: dict[str, Any], name: str) -> Any:
    """A field of the dispatcher's work-queue message that started this worker: `run` (its run id, so
    that a worker's log lines can be found from the dispatcher's), `vantage` (the one it checks from);
    None for a direct invocation."""
    for record in event.get("Records") or []:
        try:
            value = json.loads(record.get("body") or "{}").get(name)
        except (ValueError, AttributeError):
            continue
        if value is not None:
            return value
    return None


def emit_sweep_metrics(
    settings: Settings,
    stats: SweepStats,
    backlog: float,
    lag: float,
    duration_ms: float,
    counts: Mapping[str, float] | None = None,
) -> None:
    """Every run's figures, in one EMF document. `SweepLagSeconds`: now minus the due time of the
    oldest proxy still due. `counts`: the dispatcher's own."""
    from aws_lambda_powertools.metrics import MetricUnit

    emf = metrics(settings)
    for name, value in (counts or {}).items():
        emf.add_metric(name=name, unit=MetricUnit.Count, value=value)
    emf.add_metric(name="SweepCompleted", unit=MetricUnit.Count, value=1)
    emf.add_metric(name="SweepLagSeconds", unit=MetricUnit.Seconds, value=lag)
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
