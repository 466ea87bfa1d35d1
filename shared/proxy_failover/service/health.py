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
        self,
        principal: Principal,
        instance_id: str,
        status: HealthStatus,
        metrics: dict[str, Any] | None,
        *,
        idempotency_key: str | None = None,
    ) -> Listed:
        """Feed one check result through the state machine; fail over at once if it killed the active.
        A report that changes no status is one statement; one that does goes through the engine. So
        does a report with an Idempotency-Key (the proxy's lock orders the repeats of a key): a key used
        for the instance within 10 minutes changes nothing and gets the first answer."""
        if idempotency_key is None:
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
        from ..store.rows import listed_from_json

        def lock(con: Connection) -> list[str]:
            proxy_id = proxies.lock_proxy_of_instance(con, instance_id, principal)
            if proxy_id is None:
                raise InstanceNotFound(f"instance {instance_id} not found")
            if idempotency_key is not None:  # read under the lock: a repeat waits for the first
                answered = proxies.reported(con, instance_id, idempotency_key)
                if answered is not None:
                    raise _Repeated(listed_from_json(answered))
            return [proxy_id]

        check = Check(status, connections=(metrics or {}).get("conns"), metrics=metrics)
        key = None if idempotency_key is None else (instance_id, idempotency_key)
        try:
            (outcome,) = self.write(
                lock,
                lambda aggregate, now: Step(checks={instance_id: check}, report_key=key),
                actor=SYSTEM_ACTOR,
            )
        except _Repeated as repeated:
            return repeated.answer
        return Listed(outcome.instance(instance_id), outcome.active_instance_id == instance_id)


class _Repeated(Exception):
    """A keyed report's key was used before: the transaction ends, the first answer is the answer."""

    def __init__(self, answer: Listed) -> None:
        super().__init__("repeated report")
        self.answer = answer
