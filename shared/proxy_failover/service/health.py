"""Health reports from other services: one check result each."""

from __future__ import annotations

from typing import Any

from ..domain.models import HealthStatus
from ..errors import InstanceNotFound
from ..identity import Principal
from ..store import proxies
from ..store.rows import Listed
from .unit_of_work import UnitOfWork


class HealthUseCases(UnitOfWork):
    def report_health(
        self, principal: Principal, instance_id: str, status: HealthStatus, metrics: dict[str, Any] | None
    ) -> Listed:
        """Feed one check result through the state machine; fail over at once if it killed the active.
        A report that changes no status is one statement; one that does goes through the engine."""
        found, listed = proxies.report_fast(
            self.db.autocommit(), instance_id, principal, status, self.clock(), metrics
        )
        if not found:
            raise InstanceNotFound(f"instance {instance_id} not found")
        if listed is not None:
            return listed
        from ..domain.models import SYSTEM_ACTOR
        from ..engine import Check, Step
        from ..store.db import Connection

        def lock(con: Connection) -> list[str]:
            proxy_id = proxies.lock_proxy_of_instance(con, instance_id, principal)
            if proxy_id is None:
                raise InstanceNotFound(f"instance {instance_id} not found")
            return [proxy_id]

        check = Check(status, connections=(metrics or {}).get("conns"), metrics=metrics)
        (outcome,) = self.write(
            lock, lambda aggregate, now: Step(checks={instance_id: check}), actor=SYSTEM_ACTOR
        )
        return Listed(outcome.instance(instance_id), outcome.active_instance_id == instance_id)
