"""Moving outbox rows to SNS: right after the commit that wrote them, and by the relay for leftovers.

Neither holds a transaction open across a call to SNS, and neither waits on SNS for longer than one
publish timeout (see `publisher`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ..errors import DatabaseUnavailable
from ..observability import get_logger
from ..settings import Settings
from ..store import outbox
from ..store.changes import OutboxRow
from ..store.db import Database
from .publisher import Message, Published, publish, sns_unreachable

logger = get_logger(__name__)
RETRY_BASE_SECONDS = 5.0
# A leased row is skipped by other relays this long: far longer than publishing a lease's worth takes.
LEASE_SECONDS = 60.0


def _message(row: OutboxRow | dict[str, Any]) -> Message:
    if isinstance(row, OutboxRow):
        return Message(row.id, row.type, row.proxy_id, row.severity, row.message, _drill(row.message))
    message = row["message"]
    return Message(str(row["id"]), row["type"], row["proxy_id"], row["severity"], message, _drill(message))


def _drill(message: dict[str, Any] | str) -> bool:
    return isinstance(message, dict) and message.get("drill") is True


def _record(db: Database, published: Published) -> None:
    con = db.autocommit()
    outbox.mark_sent(con, published.sent)
    outbox.mark_failed(con, published.failed, published.error or "publish failed", RETRY_BASE_SECONDS)


def deliver_now(db: Database, rows: Sequence[OutboxRow], settings: Settings) -> int:
    """Publish rows just committed; the number SNS took. On any failure they stay pending for the
    relay, which takes them once their grace period is over. While SNS is known to be unreachable,
    this does not even try.

    Writers that finish at the same moment publish together: the first publishes for every writer
    that reaches this while it does, in one PublishBatch and one mark, and each waits for its own
    rows' outcome, as it would have publishing alone. One request at a time (a Lambda environment)
    always publishes its own."""
    if not rows or not settings.notifications_topic_arn or sns_unreachable():
        return 0
    return _group_of(db, settings).deliver(list(rows))


class _Ticket:
    """One writer's rows. A follower waits on `done`, a lock held from the moment it queues, which
    the leader of its batch (or the one handing it the lead) releases."""

    __slots__ = ("done", "lead", "rows", "sent")

    def __init__(self, rows: list[OutboxRow]) -> None:
        self.rows, self.sent, self.lead = rows, 0, False
        self.done: threading.Lock | None = None


class _Group:
    """Group publishing, as a database's group commit: whoever finds no one publishing leads; who
    arrives meanwhile queues. The leader publishes its batch (itself and who had queued, while they
    fill one PublishBatch; its own rows alone may be more), marks it, wakes the batch and hands the lead to the first
    still queued. A writer waits at most one batch before its own (each bounded by SNS's timeouts,
    and after a failure the breaker spares the next batch the wait)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db, self._settings = db, settings
        self._lock = threading.Lock()
        self._queued: list[_Ticket] = []
        self._leading = False

    def deliver(self, rows: list[OutboxRow]) -> int:
        ticket = _Ticket(rows)
        with self._lock:
            self._queued.append(ticket)
            follows, self._leading = self._leading, True
            if follows:
                ticket.done = threading.Lock()
                ticket.done.acquire()
        if follows and not self._follow(ticket):
            return ticket.sent
        batch: list[_Ticket] = []
        try:
            with self._lock:
                batch = self._take(ticket)
            if sns_unreachable():  # the batch before failed: the relay takes these
                return 0
            messages = [_message(r) for t in batch for r in t.rows]
            published = publish(messages, self._settings)
            try:
                _record(self._db, published)
            except DatabaseUnavailable:
                # Published but not marked: the relay sends them again after the grace period (ids dedupe).
                logger.warning("could not mark notifications as sent", extra={"count": len(published.sent)})
            taken = set(published.sent)
            for t in batch:
                t.sent = sum(1 for r in t.rows if r.id in taken)
            return ticket.sent
        finally:
            with self._lock:
                following = self._queued[0] if self._queued else None
                self._leading = following is not None
                if following is not None:
                    following.lead = True
            for t in batch:
                if t is not ticket and t.done is not None:
                    t.done.release()
            if following is not None and following.done is not None:
                following.done.release()

    def _follow(self, ticket: _Ticket) -> bool:
        """Wait for the batch that publishes `ticket`; True when it is handed the lead instead. A wait
        longer than two batches' bounds gives up (its rows are in the outbox: the relay takes them)."""
        settings = self._settings
        bound = 2 * (settings.sns_connect_timeout_seconds + settings.sns_read_timeout_seconds) + 1
        if ticket.done is None or ticket.done.acquire(timeout=bound):
            return ticket.lead
        with self._lock:
            if ticket.lead:
                return True
            if ticket in self._queued:
                self._queued.remove(ticket)
        return False

    def _take(self, leader: _Ticket) -> list[_Ticket]:
        """The leader, then who queued before it took the lead, while they fill one PublishBatch
        (called with the lock held)."""
        self._queued.remove(leader)
        batch, size = [leader], len(leader.rows)
        while self._queued and size + len(self._queued[0].rows) <= _GROUP_MESSAGES:
            taken = self._queued.pop(0)
            batch.append(taken)
            size += len(taken.rows)
        return batch


_GROUP_MESSAGES = 10  # one PublishBatch
_groups: dict[tuple[int, int], _Group] = {}
_groups_lock = threading.Lock()


def _group_of(db: Database, settings: Settings) -> _Group:
    key = (id(db), id(settings))
    with _groups_lock:
        group = _groups.get(key)
        if group is None or group._db is not db or group._settings is not settings:
            if len(_groups) > 64:  # databases and settings of tests come and go
                _groups.clear()
            group = _groups[key] = _Group(db, settings)
        return group


def relay_pending(db: Database, settings: Settings, limit: int = 500) -> dict[str, int]:
    """Publish due rows, a lease at a time, until none are due or SNS fails."""
    totals = {"sent": 0, "failed": 0}
    if not settings.notifications_topic_arn:
        return totals
    while True:
        rows = outbox.lease_due(db.autocommit(), limit, LEASE_SECONDS)
        if not rows:
            return totals
        published = publish([_message(r) for r in rows], settings)
        _record(db, published)
        totals["sent"] += len(published.sent)
        totals["failed"] += len(published.failed)
        if published.failed or len(rows) < limit:
            return totals


class BackgroundPublisher:
    """The sweep's publisher: a thread with its own database connection, so that probes and failovers
    never wait on SNS. Rows handed to `submit` are published as soon as the thread gets to them;
    every `relay_every` seconds it also relays leftovers (skipped while SNS is known unreachable)."""

    def __init__(self, db: Database, settings: Settings, *, relay_every: float = 5.0) -> None:
        import queue
        import threading

        self._db = db
        self._settings = settings
        self._relay_every = relay_every
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0

    def _ensure_started(self) -> None:
        import threading

        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sns-publisher", daemon=True)
                self._thread.start()

    def submit(self, rows: Sequence[OutboxRow]) -> None:
        if rows and self._settings.notifications_topic_arn:
            self._ensure_started()
            self._queue.put(("rows", list(rows)))

    def flush(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) until everything submitted so far has been tried, then relay
        leftovers once. True when that finished in time."""
        import threading

        if not self._settings.notifications_topic_arn:
            return True
        self._ensure_started()
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(max(0.0, timeout))

    def close(self, timeout: float) -> None:
        self.flush(timeout)
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=max(0.1, timeout))

    def _run(self) -> None:
        import queue
        import time

        next_relay = time.monotonic() + self._relay_every
        try:
            while True:
                try:
                    item = self._queue.get(timeout=max(0.05, next_relay - time.monotonic()))
                except queue.Empty:
                    item = ("relay", None)
                if item is None:
                    return
                kind, payload = item
                try:
                    if kind == "rows":
                        self.sent += deliver_now(self._db, payload, self._settings)
                    elif not sns_unreachable():
                        self.sent += relay_pending(self._db, self._settings)["sent"]
                        next_relay = time.monotonic() + self._relay_every
                except Exception:
                    logger.exception("publishing failed")
                finally:
                    if kind == "flush":
                        payload.set()
        finally:
            self._db.discard()  # this thread's connection: closed with the thread
