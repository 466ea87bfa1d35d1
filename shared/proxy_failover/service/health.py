"""Health reports from other services: one check result each."""

from __future__ import annotations

from ..domain.health import Judged, report_settles
from ..domain.models import HealthStatus, Instance, MetricsSample
from ..errors import InstanceNotFound
from ..identity import Principal
from ..store import locks, report
from ..store.rows import Listed
from .unit_of_work import UnitOfWork

# Each instance as this process's last answer about it left it, and what judged it. A report that
# this memory says will change the status goes straight to the engine rather than first trying the
# one statement that only moves counters (and failing: a round trip and a statement, a quarter of
# what a status change costs PostgreSQL). Memory made stale by another process only picks the slower
# of two paths that are both right; it holds no more than a bounded number of instances.
_last_seen: dict[str, tuple[Instance, Judged]] = {}
_LAST_SEEN_MAX = 10_000


def _remember(instance: Instance, judged: Judged) -> None:
    if len(_last_seen) >= _LAST_SEEN_MAX and instance.id not in _last_seen:
        _last_seen.clear()
    _last_seen[instance.id] = (instance, judged)


def _expects_change(instance_id: str, status: HealthStatus, metrics: MetricsSample | None) -> bool:
    seen = _last_seen.get(instance_id)
    connections = metrics is not None and metrics.connection_count is not None
    return seen is not None and not report_settles(seen[0], status, seen[1], connections=connections)


class HealthUseCases(UnitOfWork):
    def report_health(
        self,
        principal: Principal,
        instance_id: str,
        status: HealthStatus,
        metrics: MetricsSample | None,
        *,
        idempotency_key: str | None = None,
    ) -> Listed:
        """Feed one check result through the state machine; fail over at once if it killed the active.
        A report that changes no status is one statement; one that does goes through the engine. So
        does a report with an Idempotency-Key (the proxy's lock orders the repeats of a key): a key used
        for the instance within 10 minutes changes nothing and gets the first answer."""
        if idempotency_key is None and not _expects_change(instance_id, status, metrics):
            found, listed, judged = report.report_fast(
                self.db.autocommit(),
                instance_id,
                principal,
                status,
                self.clock(),
                metrics,
                record_checks=self.settings.check_history,
            )
            if not found:
                raise InstanceNotFound(f"instance {instance_id} not found")
            if listed is not None and judged is not None:
                _remember(listed.instance, judged)
                return listed
        from ..domain.change import Check, Step
        from ..domain.models import SYSTEM_ACTOR, ProxyAggregate
        from ..store import report_keys
        from ..store.db import Connection
        from ..store.rows import listed_from_json
        from .instances import find

        def lock(con: Connection) -> list[str]:
            proxy_id = locks.lock_proxy_of_instance(con, instance_id, principal)
            if proxy_id is None:
                raise InstanceNotFound(f"instance {instance_id} not found")
            if idempotency_key is not None:  # read under the lock: a repeat waits for the first
                answered = report_keys.reported(con, instance_id, idempotency_key)
                if answered is not None:
                    raise _Repeated(listed_from_json(answered))
            return [proxy_id]

        check = Check(
            status, connections=None if metrics is None else metrics.connection_count, metrics=metrics
        )
        key = None if idempotency_key is None else (instance_id, idempotency_key)

        def step(aggregate: ProxyAggregate, now: object) -> Step:
            # Deregistered between the lookup that found its proxy and the lock: not found after all.
            find(aggregate.instances, instance_id)
            return Step(checks={instance_id: check}, report_key=key)

        from ..store import remembered

        # A keyed report is ordered by its lock (the key is read under it): it never takes the copy.
        known = None
        if idempotency_key is None:
            known = remembered.Known(remembered.proxy_of_instance(instance_id), principal)
        try:
            (change,) = self.write(lock, step, actor=SYSTEM_ACTOR, known=known)
        except _Repeated as repeated:
            return repeated.answer
        after = change.instance(instance_id)
        _remember(after, Judged.of(change.before.config))
        return Listed(after, change.active_instance_id == instance_id)


class _Repeated(Exception):
    """A keyed report's key was used before: the transaction ends, the first answer is the answer."""

    def __init__(self, answer: Listed) -> None:
        super().__init__("repeated report")
        self.answer = answer
