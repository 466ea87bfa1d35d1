"""The failover engine: the one path by which a proxy changes.

Every writer (a health report, an operator's switch or completion, a new configuration or instance,
the sweep's checks) locks its proxies and hands the engine one `Step` per proxy. The engine reads the
locked proxies, lets the domain decide each one's `Change` (`domain.change.decide`), and has the store
write everything, for all the proxies, in one statement that carries the COMMIT. The store also applies
the fleet-wide storm rule to what the changes announce, right after that COMMIT in the same message:
each owner's pages are counted under a lock held for that one short statement.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .clock import Clock, Jitter
from .domain.change import Change, Check, Step, decide
from .domain.models import ProxyAggregate
from .domain.notices import Notice
from .ids import random_uuid
from .store import aggregate, changes, remembered
from .store.changes import OutboxRow
from .store.db import Connection, Guard

__all__ = ["Change", "Check", "DryRun", "Step", "StepFor", "run"]

StepFor = Callable[[ProxyAggregate, datetime], Step]


class DryRun(Exception):
    """Raised instead of writing, so the transaction rolls back and the caller sees what would have been."""

    def __init__(self, changes: list[Change]) -> None:
        super().__init__("dry run")
        self.changes = changes


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
    record_checks: bool = True,
) -> tuple[list[OutboxRow], list[Change]]:
    """Read the proxies this transaction has locked, decide each one's change, and write everything in
    one statement that also commits. The time is read under the locks, so the ledger's order is the
    order of the switches. `step_for` may raise a domain error: nothing is then written. A `dry_run`
    raises DryRun with the changes instead of writing. Returns the notifications to publish."""
    aggregates = aggregate.read_locked(con, locked_ids)
    if len(aggregates) != len(set(locked_ids)):
        # A proxy locked and not read is a bug: raised inside the transaction, so that nothing the lock
        # began (a proxy it created) commits without the write it was for.
        from .errors import DatabaseError

        missing = sorted(set(locked_ids) - {a.proxy_id for a in aggregates})
        raise DatabaseError("a locked proxy could not be read", internal=f"missing: {missing[:10]}")
    now = clock()
    decided = [decide(a, step_for(a, now), now=now, actor=actor, jitter=jitter) for a in aggregates]
    if dry_run:
        raise DryRun(decided)
    return _write(
        con,
        decided,
        {a.proxy_id: con.versions[a.proxy_id] for a in aggregates},
        now=now,
        outbox_grace_seconds=outbox_grace_seconds,
        storm_threshold=storm_threshold,
        record_checks=record_checks,
    )


def run_remembered(
    con: Connection,
    known: remembered.Known,
    step_for: StepFor,
    *,
    clock: Clock,
    actor: str,
    jitter: Jitter,
    outbox_grace_seconds: float,
    storm_threshold: int,
    record_checks: bool = True,
) -> tuple[list[OutboxRow], list[Change]] | None:
    """`run` for one proxy that this process remembers as its own last write left it: decided on that
    copy and written behind a guard that confirms it under the lock (`store.remembered`), one round
    trip in all. None, with nothing sent, when the proxy is not remembered or the copy refuses the
    step (a refusal is only believed under the lock); `StaleRead` when the guard found it changed."""
    proxy_id = known.proxy_id
    found = None if proxy_id is None else remembered.recall(proxy_id)
    if proxy_id is None or found is None:
        return None
    # Read after the copy was recalled: a switch committed before that recall is older than this
    # time, and one committed after it changed the proxy row, which the guard then refuses.
    now = clock()
    try:
        change = decide(found.aggregate, step_for(found.aggregate, now), now=now, actor=actor, jitter=jitter)
    except Exception:  # whatever the copy made it refuse is decided again on a read
        return None
    return _write(
        con,
        [change],
        {proxy_id: found.versions},
        now=now,
        outbox_grace_seconds=outbox_grace_seconds,
        storm_threshold=storm_threshold,
        record_checks=record_checks,
        guard=remembered.guard(proxy_id, found.versions, known),
    )


def _write(
    con: Connection,
    decided: list[Change],
    versions: dict[str, remembered.Versions],
    *,
    now: datetime,
    outbox_grace_seconds: float,
    storm_threshold: int,
    record_checks: bool,
    guard: Guard | None = None,
) -> tuple[list[OutboxRow], list[Change]]:
    """Write what was decided, then remember each proxy as the write left it."""
    outbox = [
        outbox_row(notice, c.before.proxy_id, c.before.owner_id, now) for c in decided for notice in c.notices
    ]
    written = changes.write(
        con,
        decided,
        outbox,
        now=now,
        outbox_grace_seconds=outbox_grace_seconds,
        storm_threshold=storm_threshold,
        record_checks=record_checks,
        guard=guard,
    )
    # Only a write of one proxy is remembered: the API's writes, the only ones that use the copy. The
    # sweep's batches (hundreds of proxies, a process of their own) would pay for copies never read.
    if len(decided) == 1:
        (change,) = decided
        proxy_id = change.before.proxy_id
        remembered.keep(change, versions[proxy_id], written.xid, proxy_id in written.proxies)
    return written.outbox, decided


def outbox_row(notice: Notice, proxy_id: str | None, owner_id: str | None, now: datetime) -> OutboxRow:
    """A notice as the notification published for it (of no proxy and no owner: a fleet-wide one).
    Every notification carries a correlationId: its incident's, or (alone) its own id."""
    notification_id = random_uuid()
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
