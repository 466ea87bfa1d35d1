"""A proxy's redundancy posture: read, and recomputed (or switched) on an admin's request."""

from __future__ import annotations

from typing import Any

from ..errors import ProxyNotFound, RedundancyNotFound
from ..identity import Principal
from ..store import locks, reads
from ..store.rows import StoredRedundancy
from .unit_of_work import UnitOfWork


class RedundancyUseCases(UnitOfWork):
    def get_redundancy(self, principal: Principal, proxy_id: str) -> StoredRedundancy:
        found = reads.get_redundancy(self.db.autocommit(), proxy_id, principal)
        if found is None:
            raise RedundancyNotFound(f"no redundancy status for proxy {proxy_id}")
        return found

    def put_redundancy(
        self,
        principal: Principal,
        proxy_id: str,
        active_instance_id: str | None,
        reason: str | None,
        force: bool,
    ) -> StoredRedundancy:
        """Counts and level are always recomputed; a new active instance is a manual failover. Decided
        under the proxy's lock: naming the instance that is already active changes nothing (200)."""
        from ..domain.change import Step
        from ..domain.decisions import check_manual_switch
        from ..domain.models import EventType, ProxyAggregate, Switch
        from ..store.db import Connection

        def lock(con: Connection) -> list[str]:
            try:
                return [locks.lock_proxy(con, proxy_id, principal)]
            except ProxyNotFound:
                raise RedundancyNotFound(f"no redundancy status for proxy {proxy_id}") from None

        def step(aggregate: ProxyAggregate, now: Any) -> Step:
            if aggregate.previous is None:
                raise RedundancyNotFound(f"no redundancy status for proxy {proxy_id}")
            active = aggregate.active_instance_id
            if active_instance_id is None or active_instance_id == active:
                return Step(allow_automatic=False)
            check_manual_switch(aggregate.instances, active, None, active_instance_id, force=force)
            why = reason or "manual switch of the active instance"
            return Step(requested=Switch(EventType.MANUAL, active, active_instance_id, why))

        self.write(lock, step, actor=principal.user_id)
        return self.get_redundancy(principal, proxy_id)
