"""Moving outbox rows to SNS: right after the commit that wrote them, and by the relay for leftovers.

Neither holds a transaction open across a call to SNS, and neither waits on SNS for longer than one
publish timeout (see `publisher`)."""

from __future__ import annotations

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
    """Publish rows just committed. On any failure they stay pending for the relay, which takes them
    once their grace period is over. While SNS is known to be unreachable, this does not even try."""
    if not rows or not settings.notifications_topic_arn or sns_unreachable():
        return 0
    published = publish([_message(r) for r in rows], settings)
    try:
        _record(db, published)
    except DatabaseUnavailable:
        # Published but not marked: the relay sends them again after the grace period (ids dedupe).
        logger.warning("could not mark notifications as sent", extra={"count": len(published.sent)})
    return len(published.sent)


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
