"""Use cases behind the HTTP API: each is one call from a handler, one transaction (or one statement)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .domain.models import SYSTEM_ACTOR, EventStatus, EventType, HealthStatus
from .errors import (
    ConfigNotFound,
    EventAlreadyCompleted,
    EventNotFound,
    InstanceNotFound,
    ProxyNotFound,
    RedundancyNotFound,
)
from .identity import Principal
from .paging import Page
from .settings import get_settings
from .store import events, proxies
from .store.db import Connection, Database, get_database
from .store.rows import config_from_row

if TYPE_CHECKING:
    from .domain.decisions import Decision
    from .engine import Batch

# Reads import only what they use: the engine, the state machine, the probe policy and the notifier
# are imported by the write paths below, so a GET handler's cold start does not pay for them.


def utcnow() -> datetime:
    return datetime.now(UTC)


def jitter_source(rng: random.Random) -> Callable[[], float]:
    """Backoff jitter: a factor in [0.8, 1.2) so recovering fleets do not move in lockstep."""
    return lambda: 0.8 + 0.4 * rng.random()


class FailoverService:
    def __init__(
        self,
        db: Database | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self.clock = clock
        self.jitter = jitter_source(rng or random.Random())

    @property
    def db(self) -> Database:
        return self._db or get_database()

    # ---- configuration -------------------------------------------------------------------------

    def put_config(self, principal: Principal, proxy_id: str, provided: dict[str, Any]) -> dict[str, Any]:
        def work(con: Connection) -> tuple[dict[str, Any], Batch]:
            proxy = proxies.ensure_proxy(con, proxy_id, principal)
            row = proxies.upsert_config(con, proxy_id, provided)
            # The proxy row stays locked; only its config changed, and the stored row has it.
            proxy = proxy._replace(config=config_from_row(row, prefix=""))
            batch = self._settle(con, proxy, allow_automatic=False)
            return row, batch

        row, batch = self.db.run_in_transaction(work)
        self._deliver(batch)
        return row

    def get_config(self, principal: Principal, proxy_id: str) -> dict[str, Any]:
        row = proxies.get_config(self.db.autocommit(), proxy_id, principal)
        if row is None:
            raise ConfigNotFound(f"no failover configuration for proxy {proxy_id}")
        return row

    # ---- instances -----------------------------------------------------------------------------

    def register_instance(self, principal: Principal, proxy_id: str, data: dict[str, Any]) -> dict[str, Any]:
        from .checks.policy import TargetPolicy, check_registration

        if data.get("health_check_url"):
            settings = get_settings()
            check_registration(
                data["health_check_url"],
                TargetPolicy.from_settings(settings.probe_allow_loopback, settings.probe_allowed_cidrs),
            )

        def work(con: Connection) -> tuple[dict[str, Any], Batch]:
            proxy = proxies.ensure_proxy(con, proxy_id, principal)  # locked until commit
            row = proxies.insert_instance(con, proxy_id, data, cap=get_settings().max_instances_per_proxy)
            batch = self._settle(con, proxy, allow_automatic=False)
            active = batch.writes[0].active_instance_id
            return dict(row, is_active=str(row["id"]) == active), batch

        row, batch = self.db.run_in_transaction(work)
        self._deliver(batch)
        return row

    def list_instances(
        self, principal: Principal, proxy_id: str, limit: int = 100, after: list[Any] | None = None
    ) -> Page[dict[str, Any]]:
        return proxies.list_instances(self.db.autocommit(), proxy_id, principal, limit, after)

    def report_health(
        self, principal: Principal, instance_id: str, status: HealthStatus, metrics: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Feed one check result through the state machine; fail over at once if it killed the active."""
        now = self.clock()
        found, row = proxies.report_fast(
            self.db.autocommit(), instance_id, principal, status.value, now, metrics
        )
        if not found:
            raise InstanceNotFound(f"instance {instance_id} not found")
        if row is not None:
            return row
        from .domain.decisions import reconcile
        from .domain.health import apply_check
        from .engine import Batch, to_writes
        from .store import changes

        def work(con: Connection) -> tuple[dict[str, Any], Batch]:
            proxy = proxies.lock_proxy_of_instance(con, instance_id, principal)
            if proxy is None:
                raise InstanceNotFound(f"instance {instance_id} not found")
            now = self.clock()  # under the lock: the ledger's order is the order of the switches
            before = proxies.lock_instances(con, [proxy.proxy_id])[proxy.proxy_id]
            after, transitions = [], []
            for instance in before:
                if instance.id == instance_id:
                    conns = (metrics or {}).get("conns")
                    instance, transition = apply_check(
                        instance, status, proxy.config, now, connection_count=conns
                    )
                    if transition:
                        transitions.append(transition)
                after.append(instance)
            plan = reconcile(
                after,
                proxy.active_instance_id,
                proxy.config,
                previous=proxy.previous,
                transitions=transitions,
                now=now,
                jitter=self.jitter,
            )
            batch = Batch.empty()
            to_writes(batch, proxy, before, plan, now, actor=SYSTEM_ACTOR)
            changes.write(con, batch.writes, batch.events, batch.outbox, outbox_grace_seconds=self._grace)
            if metrics:
                proxies.insert_metrics(con, instance_id, now, metrics)
            stored = next(
                r for r in proxies.get_instances(con, proxy.proxy_id) if str(r["id"]) == instance_id
            )
            return dict(stored, is_active=plan.active_instance_id == instance_id), batch

        result, batch = self.db.run_in_transaction(work)
        self._deliver(batch)
        return result

    # ---- failover ------------------------------------------------------------------------------

    def evaluate(self, principal: Principal, proxy_id: str) -> Decision:
        from .domain.decisions import evaluate

        proxy, instances = proxies.read_state(self.db.autocommit(), proxy_id, principal)
        return evaluate(instances, proxy.active_instance_id, proxy.config)

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
    ) -> dict[str, Any]:
        """An operator's switch: one transaction, checked against the locked current state."""
        started = time.perf_counter()

        def work(con: Connection) -> tuple[dict[str, Any], Batch]:
            proxy = proxies.lock_proxy(con, proxy_id, principal)
            return self._switch(
                con,
                proxy,
                principal,
                source_id,
                target_id,
                reason,
                force=force,
                event_type=event_type,
                status=status,
                started=started,
            )

        event, batch = self.db.run_in_transaction(work)
        self._deliver(batch)
        return event

    def _switch(
        self,
        con: Connection,
        proxy: proxies.ProxyState,
        principal: Principal,
        source_id: str | None,
        target_id: str,
        reason: str,
        *,
        force: bool,
        event_type: EventType,
        status: EventStatus,
        started: float,
    ) -> tuple[dict[str, Any], Batch]:
        """An operator's switch on a locked proxy, checked against its current state."""
        from .domain.decisions import Switch, check_manual_switch, reconcile
        from .engine import Batch, to_writes
        from .store import changes

        now = self.clock()
        before = proxies.lock_instances(con, [proxy.proxy_id])[proxy.proxy_id]
        source = source_id if source_id is not None else proxy.active_instance_id
        check_manual_switch(before, proxy.active_instance_id, source_id, target_id, force=force)
        switch = Switch(event_type, source, target_id, reason)
        plan = reconcile(
            before,
            target_id,
            proxy.config,
            previous=proxy.previous,
            now=now,
            jitter=self.jitter,
            allow_automatic=False,
        )
        batch = Batch.empty()
        event = to_writes(
            batch,
            proxy,
            before,
            plan,
            now,
            actor=principal.user_id,
            switch=switch,
            switch_status=status,
            switch_duration_ms=int((time.perf_counter() - started) * 1000),
        )
        assert event is not None
        changes.write(con, batch.writes, batch.events, batch.outbox, outbox_grace_seconds=self._grace)
        return event.as_row(), batch  # exactly what was written: no read-back

    def complete_event(
        self,
        principal: Principal,
        event_id: str,
        status: EventStatus,
        error: str | None,
        duration_ms: int | None,
    ) -> dict[str, Any]:
        def work(con: Connection) -> dict[str, Any]:
            event = events.lock_event(con, event_id, principal)
            if event is None:
                raise EventNotFound(f"failover event {event_id} not found")
            if event["status"] != EventStatus.IN_PROGRESS.value:
                raise EventAlreadyCompleted(f"failover event {event_id} is already {event['status']}")
            return events.complete_event(con, event_id, status.value, error, duration_ms)

        return self.db.run_in_transaction(work)

    def list_events(
        self, principal: Principal, proxy_id: str, limit: int, after: list[Any] | None = None
    ) -> Page[dict[str, Any]]:
        found = events.list_events(self.db.autocommit(), proxy_id, principal, limit, after)
        if found is None:
            raise ProxyNotFound(f"proxy {proxy_id} not found")
        return found

    # ---- redundancy ----------------------------------------------------------------------------

    def get_redundancy(self, principal: Principal, proxy_id: str) -> dict[str, Any]:
        row = proxies.get_redundancy(self.db.autocommit(), proxy_id, principal)
        if row is None:
            raise RedundancyNotFound(f"no redundancy status for proxy {proxy_id}")
        return row

    def put_redundancy(
        self,
        principal: Principal,
        proxy_id: str,
        active_instance_id: str | None,
        reason: str | None,
        force: bool,
    ) -> dict[str, Any]:
        """Counts and level are always recomputed; a new active instance is a manual failover. Decided
        under the proxy's lock: naming the instance that is already active changes nothing (200)."""

        def work(con: Connection) -> Batch:
            try:
                proxy = proxies.lock_proxy(con, proxy_id, principal)
            except ProxyNotFound:
                raise RedundancyNotFound(f"no redundancy status for proxy {proxy_id}") from None
            if proxy.previous is None:
                raise RedundancyNotFound(f"no redundancy status for proxy {proxy_id}")
            if active_instance_id is None or active_instance_id == proxy.active_instance_id:
                return self._settle(con, proxy, allow_automatic=False)
            _, batch = self._switch(
                con,
                proxy,
                principal,
                None,
                active_instance_id,
                reason or "manual switch of the active instance",
                force=force,
                event_type=EventType.MANUAL,
                status=EventStatus.COMPLETED,
                started=time.perf_counter(),
            )
            return batch

        self._deliver(self.db.run_in_transaction(work))
        return self.get_redundancy(principal, proxy_id)

    # ---- helpers -------------------------------------------------------------------------------

    @property
    def _grace(self) -> float:
        return get_settings().outbox_grace_seconds

    def _settle(self, con: Connection, proxy: proxies.ProxyState, *, allow_automatic: bool) -> Batch:
        """Recompute and store the proxy's posture after a change that is not a check result."""
        from .domain.decisions import reconcile
        from .engine import Batch, to_writes
        from .store import changes

        now = self.clock()
        before = proxies.lock_instances(con, [proxy.proxy_id])[proxy.proxy_id]
        plan = reconcile(
            before,
            proxy.active_instance_id,
            proxy.config,
            previous=proxy.previous,
            now=now,
            jitter=self.jitter,
            allow_automatic=allow_automatic,
        )
        batch = Batch.empty()
        to_writes(batch, proxy, before, plan, now, actor=SYSTEM_ACTOR)
        changes.write(con, batch.writes, batch.events, batch.outbox, outbox_grace_seconds=self._grace)
        return batch

    def _deliver(self, batch: Batch) -> None:
        from .notify.relay import deliver_now

        deliver_now(self.db, batch.outbox, get_settings())


@lru_cache(maxsize=1)
def get_service() -> FailoverService:
    return FailoverService()
