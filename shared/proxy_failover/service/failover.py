"""Failover decisions and operators' switches, and the ledger they write."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..domain.models import EventStatus, EventType, LedgerEvent
from ..errors import ProxyNotFound
from ..identity import Principal
from ..paging import Page
from ..store import aggregate as proxy_state
from ..store import events, locks, remembered
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ..domain.decisions import Decision


class FailoverUseCases(UnitOfWork):
    def evaluate(self, principal: Principal, proxy_id: str) -> Decision:
        """Should the proxy fail over now? One snapshot, no locks, nothing changed."""
        from ..domain.decisions import evaluate

        found = proxy_state.read_state(self.db.autocommit(), proxy_id, principal)
        return evaluate(found.instances, found.active_instance_id, found.config)

    def execute_failover(
        self,
        principal: Principal,
        proxy_id: str,
        source_id: str | None,
        target_id: str,
        reason: str,
        *,
        force: bool = False,
        event_type: EventType = EventType.FAILOVER,
        status: EventStatus = EventStatus.IN_PROGRESS,
        dry_run: bool = False,
    ) -> LedgerEvent:
        """An operator's switch, checked against the proxy's state under its lock: of several from the
        same source, exactly one wins. A `dry_run` checks the same under the same lock, and returns the
        event it would have written, writing and publishing nothing."""
        from ..domain.change import Step
        from ..domain.decisions import check_manual_switch
        from ..domain.models import ProxyAggregate, Switch

        started = time.perf_counter()

        def step(aggregate: ProxyAggregate, now: Any) -> Step:
            active = aggregate.active_instance_id
            check_manual_switch(aggregate.instances, active, source_id, target_id, force=force)
            switch = Switch(event_type, source_id if source_id is not None else active, target_id, reason)
            elapsed = int((time.perf_counter() - started) * 1000)
            return Step(requested=switch, event_status=status, event_duration_ms=elapsed)

        (change,) = self.write(
            lambda con: [locks.lock_proxy(con, proxy_id, principal)],
            step,
            actor=principal.user_id,
            dry_run=dry_run,
            known=remembered.Known(proxy_id, principal),
        )
        assert change.event is not None
        return change.event

    def start_drill(
        self, principal: Principal, proxy_id: str, target_id: str | None, duration_seconds: int, reason: str
    ) -> LedgerEvent:
        """A real switch marked as a drill (event `drill`, in progress) to `target_id`, or to the
        strategy's choice; the scheduled run switches back after `duration_seconds`."""
        from ..domain.change import Step
        from ..domain.decisions import check_manual_switch
        from ..domain.models import ProxyAggregate, Switch
        from ..domain.strategies import choose_target
        from ..errors import DrillInProgress, NoDrillTarget

        def step(aggregate: ProxyAggregate, now: Any) -> Step:
            if aggregate.drill is not None:
                raise DrillInProgress(
                    f"proxy {proxy_id} is in a drill until {aggregate.drill.until.isoformat()}"
                )
            active = aggregate.active_instance_id
            target = target_id
            if target is None:
                chosen = choose_target(aggregate.instances, active, aggregate.config.failover_strategy)
                if chosen is None:
                    raise NoDrillTarget("no healthy instance to drill a failover to")
                target = chosen.id
            check_manual_switch(aggregate.instances, active, active, target, force=False)
            return Step(
                requested=Switch(EventType.DRILL, active, target, reason),
                event_status=EventStatus.IN_PROGRESS,
                event_duration_ms=None,
                drill_seconds=duration_seconds,
            )

        (change,) = self.write(
            lambda con: [locks.lock_proxy(con, proxy_id, principal)], step, actor=principal.user_id
        )
        assert change.event is not None
        return change.event

    def complete_event(
        self,
        principal: Principal,
        event_id: str,
        status: EventStatus,
        error: str | None,
        duration_ms: int | None,
    ) -> LedgerEvent:
        """Finish an event (409 when it is finished already), under its proxy's lock like every write:
        a drill's event completed by hand ends the drill where it stands."""
        from ..domain.change import Completion, Step
        from ..errors import EventAlreadyCompleted, EventNotFound
        from ..store.db import Connection

        # An event this process opened is known without a read; the guard checks it is still open.
        opened = remembered.open_event(event_id)
        found: list[LedgerEvent] = [] if opened is None else [opened]

        def lock(con: Connection) -> list[str]:
            proxy_id = locks.lock_proxy_of_event(con, event_id, principal)
            event = None if proxy_id is None else events.read_event(con, event_id)
            if proxy_id is None or event is None:
                raise EventNotFound(f"failover event {event_id} not found")
            if event.status != EventStatus.IN_PROGRESS:
                raise EventAlreadyCompleted(f"failover event {event_id} is already {event.status}")
            found.append(event)
            return [proxy_id]

        def step(aggregate: object, now: object) -> Step:
            return Step(allow_automatic=False, completion=Completion(found[-1], status, error, duration_ms))

        known = remembered.Known(None if opened is None else opened.proxy_id, principal, event_id)
        (change,) = self.write(lock, step, actor=principal.user_id, known=known)
        assert change.completed is not None
        return change.completed

    def list_events(
        self, principal: Principal, proxy_id: str, limit: int, after: list[Any] | None = None
    ) -> Page[LedgerEvent]:
        found = events.list_events(self.db.autocommit(), proxy_id, principal, limit, after)
        if found is None:
            raise ProxyNotFound(f"proxy {proxy_id} not found")
        return found
