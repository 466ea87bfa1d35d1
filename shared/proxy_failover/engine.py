"""The failover engine: the one path by which a proxy changes.

Every writer (a health report, an operator's switch, a new configuration or instance, the sweep's
checks) locks its proxies, reads their aggregates and hands the engine one `Step` per proxy. The
engine feeds the step's check results through the health state machine, reconciles (failover,
failback, the recovery cycle, the redundancy posture), turns the plan into rows and notifications, and
writes everything for all the proxies in one statement, in the writer's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from .clock import Clock, Jitter
from .domain import drills, maintenance
from .domain.decisions import Plan, RecoveryAction, reconcile
from .domain.models import (
    Drill,
    EventStatus,
    EventType,
    FailoverConfig,
    HealthStatus,
    Instance,
    Switch,
    Transition,
)
from .domain.notices import SWITCH_NOTICE_TYPES, Notice, NoticeType, Severity, maintenance_notices
from .store import changes, proxies
from .store.changes import OutboxRow, ProxyWrite, recovery_closure
from .store.db import Connection
from .store.metrics import metrics_row
from .store.proxies import ProxyAggregate
from .store.rows import EventRow, Listed, listed_json


class Check(NamedTuple):
    """One check result for an instance, from a probe or a report."""

    result: HealthStatus
    latency_ms: float | None = None
    connections: int | None = None
    metrics: dict[str, Any] | None = None  # a reported sample, stored with the check
    reason: str | None = None  # why it failed, when the notice should say (report_ttl_expired)
    real: bool = True  # False: made up by the service (an expired report time-to-live), no sign of life


class Step(NamedTuple):
    """What a writer does to one locked proxy; the engine does the rest."""

    checks: Mapping[str, Check] = {}
    # An operator's switch, already checked against the aggregate (`check_manual_switch`).
    requested: Switch | None = None
    event_status: EventStatus = EventStatus.COMPLETED
    event_duration_ms: int | None = 0
    # May the engine fail over or fail back on its own (only check results should make it).
    allow_automatic: bool = True
    added: Instance | None = None  # an instance registered by this write
    config: FailoverConfig | None = None  # a new configuration
    # The writer's change to the instances (fields, maintenance; one left out is deregistered).
    edit: Callable[[list[Instance]], list[Instance]] | None = None
    # (instance id, Idempotency-Key) of a keyed report: its answer is kept for the key's repeats.
    report_key: tuple[str, str] | None = None
    # A drill: `requested` is its switch, and the scheduled run switches back after this long.
    drill_seconds: int | None = None


class Outcome(NamedTuple):
    """One proxy after the write: its instances and active instance, the switch's ledger event, and
    the time the write carries."""

    aggregate: ProxyAggregate
    instances: list[Instance]
    active_instance_id: str | None
    event: EventRow | None
    now: datetime

    def instance(self, instance_id: str) -> Instance:
        return next(i for i in self.instances if i.id == instance_id)


class Batch(NamedTuple):
    """Rows for one transaction, over one or many proxies."""

    writes: list[ProxyWrite]
    events: list[EventRow]
    outbox: list[OutboxRow]

    @classmethod
    def empty(cls) -> Batch:
        return cls([], [], [])

    @property
    def switch_events(self) -> list[EventRow]:
        return [e for e in self.events if e.event_type != EventType.RECOVERY.value]


StepFor = Callable[[ProxyAggregate, datetime], Step]


class DryRun(Exception):
    """Raised instead of writing, so the transaction rolls back and the caller sees what would have been."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("dry run")
        self.outcomes = outcomes


def run(
    con: Connection,
    locked_ids: list[str],
    step_for: StepFor,
    *,
    clock: Clock,
    actor: str,
    jitter: Jitter,
    outbox_grace_seconds: float,
    storm_threshold: int,
    dry_run: bool = False,
) -> tuple[Batch, list[Outcome]]:
    """Read the proxies this transaction has locked, apply each one's step, and write everything in
    one statement that also commits. The time is read under the locks, so the ledger's order is the
    order of the switches. `step_for` may raise a domain error: nothing is then written. A `dry_run`
    raises DryRun with the outcomes instead of writing."""
    aggregates = proxies.read_locked(con, locked_ids)
    if len(aggregates) != len(set(locked_ids)):
        # A proxy locked and not read is a bug: raised inside the transaction, so that nothing the lock
        # began (a proxy it created) commits without the write it was for.
        from .errors import DatabaseError

        missing = sorted(set(locked_ids) - {a.proxy_id for a in aggregates})
        raise DatabaseError("a locked proxy could not be read", internal=f"missing: {missing[:10]}")
    now = clock()
    batch = Batch.empty()
    outcomes = [_plan(batch, a, step_for(a, now), now=now, actor=actor, jitter=jitter) for a in aggregates]
    if dry_run:
        raise DryRun(outcomes)
    changes.write(
        con,
        batch.writes,
        batch.events,
        batch.outbox,
        now=now,
        outbox_grace_seconds=outbox_grace_seconds,
        storms=_storms(con, batch, now, storm_threshold),
        commit=True,
    )
    return batch, outcomes


def _storms(con: Connection, batch: Batch, now: datetime, threshold: int) -> list[dict[str, Any]]:
    """Count this batch's failovers per owner (drills aside) against the last minute's, in one
    statement, only for owners with a failover or another critical notification in the batch. In a
    storm, every critical notification of the owner but the storm's own goes out as `warning` naming
    the storm (a pager on `critical` is woken once), and the failover that opens one adds a
    `fleet_incident` ahead of the rest. Edits `batch.outbox`; returns the owners' new states."""
    failed_over: dict[str, list[str]] = {}
    critical: dict[str, list[OutboxRow]] = {}
    for row in batch.outbox:
        if row.message.get("drill") or row.user_id is None:
            continue
        if row.type == NoticeType.FAILOVER:
            failed_over.setdefault(row.user_id, []).append(row.proxy_id or "")
        if row.severity == Severity.CRITICAL:
            critical.setdefault(row.user_id, []).append(row)
    if not critical:  # a failover is critical: no critical notification, no failover either
        return []
    from .domain.storms import observe
    from .store import storms

    states = storms.lock(con, list(critical))
    rows, calmer, fleet = [], {}, []
    for owner, loud in critical.items():
        verdict = observe(owner, states[owner], failed_over.get(owner, []), now, threshold)
        rows.append(storms.row(owner, verdict.state))
        if verdict.in_storm:
            storm = {"severity": Severity.WARNING.value, "fleetIncidentId": verdict.state.storm_id}
            for r in loud:
                calmer[r.id] = r._replace(severity=Severity.WARNING.value, message={**r.message, **storm})
        if verdict.fleet_notice is not None:
            fleet.append(_outbox_row(verdict.fleet_notice, None, owner, now))
    batch.outbox[:] = [*fleet, *(calmer.get(r.id, r) for r in batch.outbox)]
    return rows


def _checked(
    instances: list[Instance], step: Step, config: FailoverConfig, now: datetime
) -> tuple[list[Instance], list[Transition]]:
    if not step.checks:
        return instances, []
    from .domain.health import apply_check  # only writes that carry check results load it

    after, transitions = [], []
    for instance in instances:
        check = step.checks.get(instance.id)
        if check is not None:
            instance, transition = apply_check(
                instance,
                check.result,
                config,
                now,
                connection_count=check.connections,
                reason=check.reason,
                real=check.real,
            )
            if check.latency_ms is not None:
                instance = instance._replace(last_latency_ms=check.latency_ms)
            if transition:
                transitions.append(transition)
        after.append(instance)
    return after, transitions


def _plan(
    batch: Batch, aggregate: ProxyAggregate, step: Step, *, now: datetime, actor: str, jitter: Jitter
) -> Outcome:
    config = step.config or aggregate.config
    before = [*aggregate.instances, *([step.added] if step.added else [])]
    current = maintenance.expire(before, now)  # every write ends maintenance whose time is up
    if step.edit is not None:
        current = step.edit(current)
    after, transitions = _checked(current, step, config, now)
    drill = aggregate.drill
    # A drill ends on the first write after its time is up (one with an operator's switch of its own
    # leaves it to the next).
    drill_end = None
    if drill is not None and step.requested is None:
        drill_end = drills.conclude(drill, after, aggregate.active_instance_id, now)
    requested = step.requested if drill_end is None else drill_end.switch
    plan = reconcile(
        after,
        aggregate.active_instance_id,
        config,
        previous=aggregate.previous,
        transitions=transitions,
        now=now,
        jitter=jitter,
        allow_automatic=step.allow_automatic and requested is None,
        requested=requested,
        named={i.id: i for i in before},
        drill=drill_end is not None,
        hold_failback=drill is not None and drill_end is None,
    )
    started, ended = maintenance.started_and_ended(before, plan.instances)
    notices = [*maintenance_notices(started, ended), *plan.notices]
    if drill is not None and drill_end is not None and drill_end.status is EventStatus.FAILED:
        notices.append(drills.failed_notice(drill, drill_end))
    stored = {i.id: i for i in aggregate.instances}
    instances = [i if stored.get(i.id) == i else i._replace(updated_at=now) for i in plan.instances]
    kept = {i.id for i in instances}
    removed = [i for i in aggregate.instances if i.id not in kept]
    # A drill's switch back completes the drill's own event rather than writing one.
    event = None if drill_end is not None else _switch_event(aggregate, plan, step, now=now, actor=actor)
    if event is not None:
        batch.events.append(event)
    started_drill = None
    if step.drill_seconds is not None and event is not None:
        started_drill = Drill(
            event.id, now + timedelta(seconds=step.drill_seconds), aggregate.active_instance_id or ""
        )
    batch.events.extend(_recovery_openings(aggregate, plan, now=now, actor=actor))
    # A proxy never given an instance has no posture yet (GET redundancy: 404); one whose last
    # instance left has one of none.
    posture_changed = bool(
        plan.switch or plan.recovery or notices or plan.redundancy != aggregate.previous
    ) and bool(instances or removed)
    batch.writes.append(
        ProxyWrite(
            proxy_id=aggregate.proxy_id,
            instances=[i for i in instances if i.id in stored and stored[i.id] != i],
            added=[i for i in instances if i.id not in stored],
            removed=[i.id for i in removed],
            active_instance_id=plan.active_instance_id,
            active_changed=plan.active_instance_id != aggregate.active_instance_id,
            redundancy=_redundancy_row(aggregate.proxy_id, plan, now) if posture_changed else None,
            recovery_closures=[
                recovery_closure(
                    r.instance_id,
                    EventStatus.COMPLETED if r.action is RecoveryAction.COMPLETE else EventStatus.FAILED,
                    None if r.action is RecoveryAction.COMPLETE else r.reason,
                    now,
                )
                for r in plan.recovery
                if r.action is not RecoveryAction.OPEN
            ]
            + [
                recovery_closure(i.id, EventStatus.FAILED, "instance deregistered", now)
                for i in removed
                if i.recovery_attempts or i.needs_attention
            ],
            config=step.config,
            metrics=[
                metrics_row(instance_id, now, check.metrics)
                for instance_id, check in step.checks.items()
                if check.metrics
            ],
            report_key=_report_key(step, instances, plan.active_instance_id),
            drill_changed=started_drill is not None or drill_end is not None,
            drill=started_drill,
            completions=[]
            if drill is None or drill_end is None
            else [{"id": drill.event_id, "status": drill_end.status.value, "error_message": drill_end.error}],
            config_version=_config_version(aggregate, step.config, actor),
        )
    )
    drill_event_id = (started_drill or drill or Drill("", now, "")).event_id
    for notice in notices:
        if notice.drill:  # a drill's notices share its event's id
            notice = notice._replace(correlation_id=drill_event_id)
        batch.outbox.append(_notification(aggregate, notice, now, event, actor, drill_event_id))
    return Outcome(aggregate, instances, plan.active_instance_id, event, now)


def _config_version(
    aggregate: ProxyAggregate, config: FailoverConfig | None, actor: str
) -> dict[str, Any] | None:
    """A version of the configuration when this write changes it (the first stored one: every field,
    from null); None when it changes nothing."""
    if config is None:
        return None
    first = aggregate.config_created_at is None
    old, new = aggregate.config._asdict(), config._asdict()
    changed = {
        name: {"from": None if first else _plain(old[name]), "to": _plain(value)}
        for name, value in new.items()
        if first or old[name] != value
    }
    if not changed:
        return None
    return {
        "proxy_id": aggregate.proxy_id,
        "config": {name: _plain(value) for name, value in new.items()},
        "changes": changed,
        "changed_by": actor,
    }


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def _report_key(
    step: Step, instances: list[Instance], active_instance_id: str | None
) -> tuple[str, str, dict[str, Any]] | None:
    if step.report_key is None:
        return None
    instance_id, key = step.report_key
    instance = next(i for i in instances if i.id == instance_id)
    return instance_id, key, listed_json(Listed(instance, instance.id == active_instance_id))


def _switch_event(
    aggregate: ProxyAggregate, plan: Plan, step: Step, *, now: datetime, actor: str
) -> EventRow | None:
    switch = plan.switch
    if switch is None:
        return None
    requested = switch is step.requested
    status = step.event_status if requested else EventStatus.COMPLETED
    done = status is not EventStatus.IN_PROGRESS
    return EventRow(
        id=str(uuid.uuid4()),
        proxy_id=aggregate.proxy_id,
        event_type=switch.event_type.value,
        status=status.value,
        source_instance_id=switch.source_instance_id,
        target_instance_id=switch.target_instance_id,
        reason=switch.reason,
        actor=actor,
        started_at=now,
        completed_at=now if done else None,
        duration_ms=(step.event_duration_ms if requested else 0) if done else None,
    )


def _recovery_openings(aggregate: ProxyAggregate, plan: Plan, *, now: datetime, actor: str) -> list[EventRow]:
    return [
        EventRow(
            id=str(uuid.uuid4()),
            proxy_id=aggregate.proxy_id,
            event_type=EventType.RECOVERY.value,
            status=EventStatus.IN_PROGRESS.value,
            source_instance_id=r.instance_id,
            target_instance_id=None,
            reason=r.reason,
            actor=actor,
            started_at=now,
        )
        for r in plan.recovery
        if r.action is RecoveryAction.OPEN
    ]


def _redundancy_row(proxy_id: str, plan: Plan, now: datetime) -> dict[str, Any]:
    r = plan.redundancy
    return {
        "proxy_id": proxy_id,
        "total_instances": r.total_instances,
        "healthy_instances": r.healthy_instances,
        "unhealthy_instances": r.unhealthy_instances,
        "active_instance_id": r.active_instance_id,
        "backup_instance_ids": list(r.backup_instance_ids),
        "redundancy_level": r.redundancy_level,
        "is_degraded": r.is_degraded,
        "degraded_reasons": list(r.degraded_reasons),
        "last_failover_at": now if plan.switch else None,
        "last_failover_reason": plan.switch.reason if plan.switch else None,
    }


def _notification(
    aggregate: ProxyAggregate,
    notice: Notice,
    now: datetime,
    event: EventRow | None,
    actor: str,
    drill_event_id: str,
) -> OutboxRow:
    row = _outbox_row(notice, aggregate.proxy_id, aggregate.owner_id, now)
    if notice.type in SWITCH_NOTICE_TYPES and (event is not None or notice.drill):
        # a drill's switch back completes the drill's event
        row.message.update(eventId=event.id if event is not None else drill_event_id, actor=actor)
    return row


def _outbox_row(notice: Notice, proxy_id: str | None, owner_id: str, now: datetime) -> OutboxRow:
    """Every notification carries a correlationId: its incident's, or (alone) its own id."""
    notification_id = str(uuid.uuid4())
    message = {
        "id": notification_id,
        "type": notice.type.value,
        "proxyId": proxy_id,
        "userId": owner_id,
        "occurredAt": now.isoformat(),
        "severity": notice.severity.value,
        "correlationId": notice.correlation_id or notification_id,
        "drill": notice.drill,
        **notice.details,
    }
    return OutboxRow(notification_id, notice.type.value, proxy_id, owner_id, notice.severity.value, message)
