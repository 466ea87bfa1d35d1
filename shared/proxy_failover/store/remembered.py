"""Proxies as this process's own last write left them, and the guard that lets a writer trust that.

A writer that finds its proxy here decides on the copy, without the lock statement's read, and sends
its write behind a guard (`migrations/009_remembered_writes.sql`): in the same message, one statement
locks the proxy and its instances as every writer does and checks that none of their rows changed
since (each row's xmin, the transaction that wrote it), nor the emergency brake. A status change then
costs one round trip to PostgreSQL instead of two, and PostgreSQL no aggregate read. When another
process (or another writer of this one) wrote in between, the guard raises `StaleRead`: the whole
transaction rolls back and the writer locks and reads as usual, one round trip later. The copy is
only ever a guess that the guard confirms; a wrong guess costs time, never correctness.

What the write statement stores is mirrored here (`after_write`), and a test holds the copy equal to
what a read of the proxy returns after every kind of write.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from ..identity import Principal
from .tenancy import VISIBLE, visible_to

if TYPE_CHECKING:
    from ..domain.change import Change
    from ..domain.models import Instance, LedgerEvent, ProxyAggregate


class Versions(NamedTuple):
    """What the guard compares: the proxy row's xmin, each instance's (`id@xmin`, in id order,
    comma-separated, as PostgreSQL's `string_agg` writes them) and whether the brake was held."""

    proxy: int
    instances: str
    held: bool


def instance_versions(versions: dict[str, int]) -> str:
    return ",".join(f"{i}@{v}" for i, v in sorted(versions.items()))


class Known(NamedTuple):
    """What a writer knows before its lock: the proxy it will lock (None: not known), for whom, and
    the in-progress event it completes (the guard then checks that it still is)."""

    proxy_id: str | None
    principal: Principal
    event_id: str | None = None


# Locks as every writer does (the proxy, then its instances in id order, then the event it
# completes) and raises PF409 unless every row is as remembered; the proxy must still be visible to
# the caller. A lock that waited reads the newest row and re-checks its condition on it.
GUARD = f"""
WITH proxy AS MATERIALIZED (
    SELECT CAST(CAST(p.xmin AS text) AS bigint) AS version FROM proxies p
     WHERE p.proxy_id = :proxy_id AND {VISIBLE} FOR UPDATE
), locked AS MATERIALIZED (
    SELECT id, CAST(CAST(xmin AS text) AS bigint) AS version FROM proxy_instances
     WHERE proxy_id = :proxy_id ORDER BY id FOR UPDATE
), event AS MATERIALIZED (
    SELECT 1 FROM proxy_failover_events
     WHERE id = CAST(:event AS uuid) AND proxy_id = :proxy_id AND status = 'in_progress' AND removed_at IS NULL
       FOR UPDATE
)
SELECT expect_current(
    (SELECT version FROM proxy) = CAST(:version AS bigint)
    AND (SELECT COALESCE(string_agg(CAST(id AS text) || '@' || CAST(version AS text), ',' ORDER BY id), '')
           FROM locked) = CAST(:instances AS text)
    AND COALESCE((SELECT f.auto_failover = 'held' FROM fleet_safety f), false) = CAST(:held AS boolean)
    AND (CAST(:event AS uuid) IS NULL OR EXISTS (SELECT 1 FROM event)))
"""


def guard(proxy_id: str, versions: Versions, known: Known) -> tuple[str, dict[str, Any]]:
    return GUARD, {
        "proxy_id": proxy_id,
        "version": versions.proxy,
        "instances": versions.instances,
        "held": versions.held,
        "event": known.event_id,
        **visible_to(known.principal),
    }


class Odds:
    """Whether trying the copy pays in this process. A copy made stale by another process costs the
    failed guard's round trip on top of the usual two, so when most recent tries missed (many Lambda
    environments sharing the proxies, each seeing few of one proxy's writes) the copy is tried only
    one write in `sample_every`, enough to notice when it would pay again (a sampled try that finds
    the copy current halves the misses). The counts halve every `window` tries: recent tries weigh
    most."""

    def __init__(self, *, window: int = 64, warm_up: int = 16, sample_every: int = 8) -> None:
        self.window, self.warm_up, self.sample_every = window, warm_up, sample_every
        self.reset()

    def reset(self) -> None:
        self.tries = self.misses = self.passed_up = 0

    def worth_trying(self) -> bool:
        if self.tries < self.warm_up or 2 * self.misses <= self.tries:
            return True
        self.passed_up += 1
        return self.passed_up % self.sample_every == 0

    def record(self, *, current: bool) -> None:
        if current and 2 * self.misses > self.tries:
            self.misses //= 2  # a sampled try found it current: the pattern may have changed
        self.tries += 1
        self.misses += not current
        if self.tries >= self.window:
            self.tries, self.misses = self.tries // 2, self.misses // 2


odds = Odds()


class Remembered(NamedTuple):
    aggregate: ProxyAggregate
    versions: Versions


# Bounded: past this many proxies the memory starts again (a miss costs one round trip).
_MAX = 10_000
_proxies: dict[str, Remembered] = {}
_proxy_of_instance: dict[str, str] = {}
# Events this process opened and has not seen finished, as written (an operator completes them).
_open_events: dict[str, LedgerEvent] = {}


def recall(proxy_id: str) -> Remembered | None:
    return _proxies.get(proxy_id)


def proxy_of_instance(instance_id: str) -> str | None:
    return _proxy_of_instance.get(instance_id)


def forget(proxy_id: str) -> None:
    _proxies.pop(proxy_id, None)


def open_event(event_id: str) -> LedgerEvent | None:
    return _open_events.get(event_id)


def forget_all() -> None:
    _proxies.clear()
    _proxy_of_instance.clear()
    _open_events.clear()
    odds.reset()


def keep(change: Change, before: Versions, xid: int | None, proxy_written: bool) -> None:
    """Remember the proxy as `change`, just committed by transaction `xid` (None: nothing written),
    left it; `before`: the versions of what it was decided on."""
    if (len(_proxies) >= _MAX and change.before.proxy_id not in _proxies) or len(_open_events) >= _MAX:
        forget_all()
    aggregate = after_write(change) if xid is not None else change.before
    versions = before
    if xid is not None:
        by_id = dict(_parsed(before.instances))
        for removed in change.removed:
            by_id.pop(removed, None)
        for instance in [*change.changed, *change.added]:
            by_id[instance.id] = xid
        versions = Versions(xid if proxy_written else before.proxy, instance_versions(by_id), before.held)
    _proxies[aggregate.proxy_id] = Remembered(aggregate, versions)
    for instance in aggregate.instances:
        _proxy_of_instance[instance.id] = aggregate.proxy_id
    if xid is None:
        return
    if change.completed is not None:
        _open_events.pop(change.completed.id, None)
    for closure in change.closures:
        if closure.event_id is not None:
            _open_events.pop(closure.event_id, None)
    for event in change.events:
        if event.status == "in_progress":
            _open_events[event.id] = _as_stored(event)


def _as_stored(event: LedgerEvent) -> LedgerEvent:
    """The event as a read returns it: its enumerations as their values."""
    return event._replace(**{k: v.value for k, v in event._asdict().items() if isinstance(v, Enum)})


def reported(instance: Instance, version: int) -> None:
    """A report that moved only `instance`'s counters (`store.report`, committed as `version`): a
    remembered copy of its proxy takes it, so that a status change after steady reports still finds
    the copy current."""
    found = _proxies.get(instance.proxy_id)
    if found is None:
        return
    by_id = dict(_parsed(found.versions.instances))
    if instance.id not in by_id:
        return
    by_id[instance.id] = version
    instances = [instance if i.id == instance.id else i for i in found.aggregate.instances]
    _proxies[instance.proxy_id] = Remembered(
        found.aggregate._replace(instances=instances),
        found.versions._replace(instances=instance_versions(by_id)),
    )


def _parsed(instances: str) -> list[tuple[str, int]]:
    if not instances:
        return []
    return [(i, int(v)) for i, v in (pair.split("@") for pair in instances.split(","))]


def after_write(change: Change) -> ProxyAggregate:
    """The proxy as a read returns it after `change` was written: what the write statement stores
    (`store.changes`), in the shapes the read gives back."""
    from ..domain.routing import route_from_json
    from .changes import stored_route
    from .rows import recordset

    before = change.before
    stored = {i.id: i for i in before.instances}
    changed = {i.id for i in change.changed}
    added = {i.id for i in change.added}
    instances = []
    for instance in change.instances:
        if instance.id in added:
            instances.append(_as_inserted(instance))
        elif instance.id in changed:
            instances.append(_as_updated(instance, stored.get(instance.id), change))
        else:
            instances.append(stored[instance.id])
    instances.sort(key=lambda i: i.id)
    route, route_version = before.route, before.route_version
    if change.route_changed:
        route_version = change.route_version
        route = (
            None
            if change.route is None
            else route_from_json(json.loads(recordset(stored_route(change.route))))
        )
    created = before.config_created_at
    if change.config is not None and created is None:
        created = change.now
    return before._replace(
        active_instance_id=change.active_instance_id if change.active_changed else before.active_instance_id,
        config=change.config if change.config is not None else before.config,
        config_created_at=created,
        previous=change.posture if change.posture is not None else before.previous,
        instances=instances,
        drill=change.drill if change.drill_changed else before.drill,
        route=route,
        route_version=route_version,
    )


def _as_updated(instance: Instance, stored: Instance | None, change: Change) -> Instance:
    latency = instance.last_latency_ms
    if latency is None and stored is not None:
        latency = stored.last_latency_ms  # the write keeps the stored latency when it has none
    return instance._replace(
        updated_at=change.now,
        last_latency_ms=latency,
        vantages=tuple(sorted(instance.vantages, key=lambda v: v.vantage)),
    )


def _as_inserted(instance: Instance) -> Instance:
    """A registered instance as inserted: the columns the insert names, the table's defaults."""
    from ..domain.models import Instance

    return Instance(
        id=instance.id,
        proxy_id=instance.proxy_id,
        name=instance.name,
        priority=instance.priority,
        weight=instance.weight,
        created_at=instance.created_at,
        health_check_url=instance.health_check_url,
        instance_type=instance.instance_type,
        updated_at=instance.created_at,
        endpoint=instance.endpoint,
        probe=instance.probe,
        health_status=instance.health_status,
    )
