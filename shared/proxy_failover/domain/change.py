"""What one write does to one proxy, pure: the writer's `Step` applied to the proxy as its transaction
read it (`ProxyAggregate`), decided into a `Change` of domain values: the instances after it, the
switch and its ledger event, the events it finishes, the posture, the drill, the configuration and
its version, and what to tell subscribers. The engine runs `decide` for every locked proxy; the store
alone turns a `Change` into rows.

Every switch of the active instance writes its own ledger event, a drill's switch back included, so
the newest switch in the ledger always names the active instance. An operator's switch during a drill
ends the drill where it stands (the operator has taken over; nothing switches back later).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ..ids import random_uuid
from . import drills, maintenance
from .decisions import RecoveryAction, reconcile
from .models import (
    CHECK_HISTORY,
    Drill,
    EventStatus,
    EventType,
    FailoverConfig,
    HealthStatus,
    Instance,
    LedgerEvent,
    MetricsSample,
    ProxyAggregate,
    Redundancy,
    RouteAnswer,
    Switch,
    Transition,
)
from .notices import SWITCH_NOTICE_TYPES, Notice, maintenance_notices, route_notice
from .routing import decide_route


class Check(NamedTuple):
    """One check result for an instance, from a probe or a report."""

    result: HealthStatus
    latency_ms: float | None = None
    connections: int | None = None
    metrics: MetricsSample | None = None  # a reported sample, stored with the check
    reason: str | None = None  # why it failed, when the notice should say (report_ttl_expired)
    real: bool = True  # False: made up by the service (an expired report time-to-live), no sign of life
    vantage: str | None = None  # the probe's vantage; None: a report (the reporter's own verdict)
    # when the probe was made (None: now). A vantage's result older than its latest is dropped: a
    # remote vantage's results arrive through a queue, maybe twice, maybe out of order.
    checked_at: datetime | None = None


class Recorded(NamedTuple):
    """A check result as the instance's check history keeps it: in slot `slot` of the ring of its
    source (a vantage's probes, or the reports)."""

    instance_id: str
    vantage: str | None  # None: a report
    slot: int
    checked_at: datetime
    result: HealthStatus
    latency_ms: float | None
    reason: str | None


class Completion(NamedTuple):
    """An operator finishing an event of an earlier transaction (read under the proxy's lock, still in
    progress)."""

    event: LedgerEvent
    status: EventStatus
    error: str | None
    duration_ms: int | None


class Step(NamedTuple):
    """What a writer does to one locked proxy; `decide` does the rest."""

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
    completion: Completion | None = None


class Closure(NamedTuple):
    """An in-progress event of an earlier transaction that this one finishes: by its id, or (a recovery
    cycle) as the open cycle of an instance. `duration_ms` None: from its start until now."""

    status: EventStatus
    error: str | None = None
    event_id: str | None = None
    recovery_of: str | None = None
    duration_ms: int | None = None


class ConfigVersion(NamedTuple):
    """A configuration change's version: every field after it and the fields it changed ({from, to}),
    by the domain's field names."""

    config: dict[str, Any]
    changes: dict[str, dict[str, Any]]
    changed_by: str


class Change(NamedTuple):
    """One proxy after a write, and everything the write changed."""

    before: ProxyAggregate
    now: datetime
    instances: list[Instance]  # every instance after the write
    changed: list[Instance]  # stored instances the write changed
    added: list[Instance]
    removed: list[str]
    active_instance_id: str | None
    switch: Switch | None
    event: LedgerEvent | None  # the switch's ledger event
    events: list[LedgerEvent]  # every event the write opens (the switch's, recovery cycles')
    closures: list[Closure]
    completed: LedgerEvent | None  # an operator's completion, as it now reads
    posture: Redundancy | None  # the posture to store (None: unchanged)
    notices: list[Notice]
    drill: Drill | None  # the drill after the write
    drill_changed: bool
    config: FailoverConfig | None  # the whole configuration, when the write sets it
    config_version: ConfigVersion | None
    metrics: list[tuple[str, MetricsSample]]
    report_key: tuple[str, str] | None
    recorded: list[Recorded]  # the check results this write adds to the check history
    route: RouteAnswer | None  # the routing answer after the write (None: no active instance)
    route_version: int  # its version: the stored one + 1 when this write changed it

    @property
    def route_changed(self) -> bool:
        return self.route_version != self.before.route_version

    @property
    def active_changed(self) -> bool:
        return self.active_instance_id != self.before.active_instance_id

    def instance(self, instance_id: str) -> Instance:
        return next(i for i in self.instances if i.id == instance_id)


def _new_id() -> str:
    return random_uuid()


def decide(
    aggregate: ProxyAggregate,
    step: Step,
    *,
    now: datetime,
    actor: str,
    jitter: Callable[[], float] = lambda: 1.0,
    new_id: Callable[[], str] = _new_id,
) -> Change:
    config = step.config or aggregate.config
    before = [*aggregate.instances, *([step.added] if step.added else [])]
    current = maintenance.expire(before, now)  # every write ends maintenance whose time is up
    if step.edit is not None:
        current = step.edit(current)
    after, transitions, recorded = _checked(current, step, config, now)

    drill, drill_end, closures, extra_notices = aggregate.drill, None, [], []
    if drill is not None:
        if step.completion is not None and step.completion.event.id == drill.event_id:
            drill = None  # its event completed by hand: the drill ends where it stands
        elif step.requested is not None:
            # An operator's switch takes over: the drill ends, and nothing switches back later.
            why = (
                f"ended early: {actor} switched the proxy ({step.requested.event_type.value}); no switch back"
            )
            closures.append(Closure(EventStatus.FAILED, why, event_id=drill.event_id))
            extra_notices.append(drills.failed_notice(drill, drills.DrillEnd(None, EventStatus.FAILED, why)))
            drill = None
        elif not aggregate.automatic_held:  # held: a drill's time being up switches nothing either
            drill_end = drills.conclude(drill, after, aggregate.active_instance_id, now)
            if drill_end is not None:
                closures.append(Closure(drill_end.status, drill_end.error, event_id=drill.event_id))
                if drill_end.status is EventStatus.FAILED:
                    extra_notices.append(drills.failed_notice(drill, drill_end))
                drill = None
    requested = step.requested if drill_end is None else drill_end.switch
    plan = reconcile(
        after,
        aggregate.active_instance_id,
        config,
        previous=aggregate.previous,
        transitions=transitions,
        now=now,
        jitter=jitter,
        allow_automatic=step.allow_automatic and requested is None and not aggregate.automatic_held,
        requested=requested,
        named={i.id: i for i in before},
        drill=drill_end is not None,
        hold_failback=drill is not None,
    )
    started, ended = maintenance.started_and_ended(before, plan.instances)
    stored = {i.id: i for i in aggregate.instances}
    instances = [i if stored.get(i.id) == i else i._replace(updated_at=now) for i in plan.instances]
    kept = {i.id for i in instances}
    removed = [i for i in aggregate.instances if i.id not in kept]

    event = _switch_event(aggregate, plan.switch, step, now=now, actor=actor, new_id=new_id)
    if event is None:
        event = _adoption_event(
            aggregate, plan.active_instance_id, before, now=now, actor=actor, new_id=new_id
        )
    if step.drill_seconds is not None and event is not None:
        drill = Drill(
            event.id, now + timedelta(seconds=step.drill_seconds), aggregate.active_instance_id or ""
        )
    openings = [
        LedgerEvent(
            id=new_id(),
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
    closures += [
        Closure(EventStatus.COMPLETED, recovery_of=r.instance_id)
        if r.action is RecoveryAction.COMPLETE
        else Closure(EventStatus.FAILED, r.reason, recovery_of=r.instance_id)
        for r in plan.recovery
        if r.action is not RecoveryAction.OPEN
    ]
    closures += [
        Closure(EventStatus.FAILED, "instance deregistered", recovery_of=i.id)
        for i in removed
        if i.recovery_attempts or i.needs_attention
    ]
    completed = None
    if step.completion is not None:
        c = step.completion
        duration = c.duration_ms
        if duration is None:
            duration = max(0, int((now - c.event.started_at).total_seconds() * 1000))
        completed = c.event._replace(
            status=c.status.value, error_message=c.error, completed_at=now, duration_ms=duration
        )
        closures.append(Closure(c.status, c.error, event_id=c.event.id, duration_ms=duration))

    notices = [*maintenance_notices(started, ended), *plan.notices, *extra_notices]
    notices = _attributed(notices, event, drill or aggregate.drill, actor)
    route = decide_route(
        aggregate.proxy_id,
        instances,
        plan.active_instance_id,
        config,
        degraded=plan.redundancy.is_degraded,
        previous=aggregate.route,
        now=now,
    )
    route_version = aggregate.route_version
    if route != aggregate.route:
        route_version += 1
        notices.append(route_notice(route, aggregate.proxy_id, route_version))
    # A proxy never given an instance has no posture yet (GET redundancy: 404); one whose last
    # instance left has one of none.
    posture_changed = bool(
        plan.switch or plan.recovery or notices or plan.redundancy != aggregate.previous
    ) and bool(instances or removed)
    return Change(
        before=aggregate,
        now=now,
        instances=instances,
        changed=[i for i in instances if i.id in stored and stored[i.id] != i],
        added=[i for i in instances if i.id not in stored],
        removed=[i.id for i in removed],
        active_instance_id=plan.active_instance_id,
        switch=plan.switch,
        event=event,
        events=[*([event] if event is not None else []), *openings],
        closures=closures,
        completed=completed,
        posture=plan.redundancy if posture_changed else None,
        notices=notices,
        drill=drill,
        drill_changed=drill != aggregate.drill,
        config=step.config,
        config_version=_config_version(aggregate, step.config, actor),
        metrics=[(instance_id, check.metrics) for instance_id, check in step.checks.items() if check.metrics],
        report_key=step.report_key,
        recorded=recorded,
        route=route,
        route_version=route_version,
    )


def _checked(
    instances: list[Instance], step: Step, config: FailoverConfig, now: datetime
) -> tuple[list[Instance], list[Transition], list[Recorded]]:
    if not step.checks:
        return instances, [], []
    from .health import apply_check, apply_probe  # only writes that carry check results load it

    after, transitions, recorded = [], [], []
    for instance in instances:
        check = step.checks.get(instance.id)
        if check is not None:
            if check.vantage is not None:
                counted = _recorded_by(instance, check.vantage)
                instance, transition = apply_probe(
                    instance,
                    check.vantage,
                    check.result,
                    config,
                    now,
                    reason=check.reason,
                    checked_at=check.checked_at,
                )
                if _recorded_by(instance, check.vantage) > counted:  # else a repeat, dropped
                    recorded.append(_record(instance.id, check, counted, now))
            else:
                counted = instance.reports_recorded
                instance, transition = apply_check(
                    instance,
                    check.result,
                    config,
                    now,
                    connection_count=check.connections,
                    reason=check.reason,
                    real=check.real,
                )
                instance = instance._replace(reports_recorded=counted + 1)
                recorded.append(_record(instance.id, check, counted, now))
            if check.latency_ms is not None:
                instance = instance._replace(last_latency_ms=check.latency_ms)
            if transition:
                transitions.append(transition)
        after.append(instance)
    return after, transitions, recorded


def _recorded_by(instance: Instance, vantage: str) -> int:
    return next((v.recorded for v in instance.vantages if v.vantage == vantage), 0)


def _record(instance_id: str, check: Check, counted: int, now: datetime) -> Recorded:
    latency = check.latency_ms
    if latency is None and check.metrics is not None:
        latency = check.metrics.average_latency_ms  # a report's own measure
    return Recorded(
        instance_id,
        check.vantage,
        counted % CHECK_HISTORY,
        check.checked_at or now,
        check.result,
        latency,
        None if check.reason is None else check.reason[:500],
    )


def _switch_event(
    aggregate: ProxyAggregate,
    switch: Switch | None,
    step: Step,
    *,
    now: datetime,
    actor: str,
    new_id: Callable[[], str],
) -> LedgerEvent | None:
    if switch is None:
        return None
    requested = switch is step.requested
    status = step.event_status if requested else EventStatus.COMPLETED
    done = status is not EventStatus.IN_PROGRESS
    return LedgerEvent(
        id=new_id(),
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


def _adoption_event(
    aggregate: ProxyAggregate,
    active_id: str | None,
    before: list[Instance],
    *,
    now: datetime,
    actor: str,
    new_id: Callable[[], str],
) -> LedgerEvent | None:
    """A proxy that had instances, lost them all and is given one again: the new one becomes active
    without a switch, and the ledger says so (its newest switch would name an instance long gone). A
    proxy's very first instance writes none: there is no earlier state to tell apart from."""
    if active_id is None or active_id == aggregate.active_instance_id or aggregate.previous is None:
        return None
    name = next((i.name for i in before if i.id == active_id), active_id)
    return LedgerEvent(
        id=new_id(),
        proxy_id=aggregate.proxy_id,
        event_type=EventType.MANUAL.value,
        status=EventStatus.COMPLETED.value,
        source_instance_id=aggregate.active_instance_id,
        target_instance_id=active_id,
        reason=f"instance {name} registered: the proxy had no instance to carry its traffic",
        actor=actor,
        started_at=now,
        completed_at=now,
        duration_ms=0,
    )


def _attributed(
    notices: list[Notice], event: LedgerEvent | None, drill: Drill | None, actor: str
) -> list[Notice]:
    """A switch's notice names its event and who made it; a drill's notices share the drill's event id
    as their correlation id."""
    out = []
    for notice in notices:
        if notice.drill and drill is not None:
            notice = notice._replace(correlation_id=drill.event_id)
        if notice.type in SWITCH_NOTICE_TYPES and event is not None:
            notice = notice._replace(details={**notice.details, "eventId": event.id, "actor": actor})
        out.append(notice)
    return out


def _config_version(
    aggregate: ProxyAggregate, config: FailoverConfig | None, actor: str
) -> ConfigVersion | None:
    """A version of the configuration when this write changes it (the first stored one: every field
    that has a value, from null); None when it changes nothing."""
    if config is None:
        return None
    first = aggregate.config_created_at is None
    old, new = aggregate.config._asdict(), config._asdict()
    changed = {
        name: {"from": None if first else _plain(old[name]), "to": _plain(value)}
        for name, value in new.items()
        if (first and value is not None) or (not first and old[name] != value)
    }
    if not changed:
        return None
    return ConfigVersion({name: _plain(value) for name, value in new.items()}, changed, actor)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)
