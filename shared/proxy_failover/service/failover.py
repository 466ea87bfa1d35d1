"""Failover decisions and operators' switches, and the ledger they write."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..domain.models import EventStatus, EventType
from ..errors import ProxyNotFound
from ..identity import Principal
from ..paging import Page
from ..store import events, proxies
from ..store.rows import EventRow
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ..domain.decisions import Decision


class FailoverUseCases(UnitOfWork):
    def evaluate(self, principal: Principal, proxy_id: str) -> Decision:
        """Should the proxy fail over now? One snapshot, no locks, nothing changed."""
        from ..domain.decisions import evaluate

        aggregate = proxies.read_state(self.db.autocommit(), proxy_id, principal)
        return evaluate(aggregate.instances, aggregate.active_instance_id, aggregate.config)

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
    ) -> EventRow:
        """An operator's switch, checked against the proxy's state under its lock: of several from the
        same source, exactly one wins. A `dry_run` checks the same under the same lock, and returns the
        event it would have written, writing and publishing nothing."""
        from ..domain.decisions import check_manual_switch
        from ..domain.models import Switch
        from ..engine import Step
        from ..store.proxies import ProxyAggregate

        started = time.perf_counter()

        def step(aggregate: ProxyAggregate, now: Any) -> Step:
            active = aggregate.active_instance_id
            check_manual_switch(aggregate.instances, active, source_id, target_id, force=force)
            switch = Switch(event_type, source_id if source_id is not None else active, target_id, reason)
            elapsed = int((time.perf_counter() - started) * 1000)
            return Step(requested=switch, event_status=status, event_duration_ms=elapsed)

        (outcome,) = self.write(
            lambda con: [proxies.lock_proxy(con, proxy_id, principal)],
            step,
            actor=principal.user_id,
            dry_run=dry_run,
        )
        assert outcome.event is not None
        return outcome.event

    def start_drill(
        self, principal: Principal, proxy_id: str, target_id: str | None, duration_seconds: int, reason: str
    ) -> EventRow:
        """A real switch marked as a drill (event `drill`, in progress) to `target_id`, or to the
        strategy's choice; the scheduled run switches back after `duration_seconds`."""
        from ..domain.decisions import check_manual_switch
        from ..domain.models import Switch
        from ..domain.strategies import choose_target
        from ..engine import Step
        from ..errors import DrillInProgress, NoDrillTarget
        from ..store.proxies import ProxyAggregate

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

        (outcome,) = self.write(
            lambda con: [proxies.lock_proxy(con, proxy_id, principal)], step, actor=principal.user_id
        )
        assert outcome.event is not None
        return outcome.event

    def complete_event(
        self,
        principal: Principal,
        event_id: str,
        status: EventStatus,
        error: str | None,
        duration_ms: int | None,
    ) -> EventRow:
        return events.complete_event(self.db.autocommit(), event_id, principal, status, error, duration_ms)

    def list_events(
        self, principal: Principal, proxy_id: str, limit: int, after: list[Any] | None = None
    ) -> Page[EventRow]:
        found = events.list_events(self.db.autocommit(), proxy_id, principal, limit, after)
        if found is None:
            raise ProxyNotFound(f"proxy {proxy_id} not found")
        return found
