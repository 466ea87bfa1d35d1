"""Moving outbox rows to SNS: right after the commit that wrote them, and by the sweep for leftovers."""

from __future__ import annotations

from typing import Any

from ..errors import DatabaseUnavailable
from ..observability import get_logger
from ..settings import get_settings
from ..store import outbox
from ..store.changes import OutboxRow
from ..store.db import Database
from .publisher import publish

logger = get_logger(__name__)
RETRY_BASE_SECONDS = 5.0


def deliver_now(db: Database, rows: list[OutboxRow]) -> int:
    """Publish rows a request just committed. On any failure they stay pending for the relay."""
    if not rows or not get_settings().notifications_topic_arn:
        return 0  # no topic: nowhere to publish; the rows wait, and the relay reports the missing topic
    outcome = publish(
        [
            {"id": r.id, "type": r.type, "proxy_id": r.proxy_id, "severity": r.severity, "message": r.message}
            for r in rows
        ]
    )
    try:
        con = db.autocommit()
        outbox.mark_sent(con, outcome.sent)
        if outcome.failed:
            outbox.mark_failed(con, outcome.failed, outcome.error or "publish failed", RETRY_BASE_SECONDS)
    except DatabaseUnavailable:
        # Published but not marked: the relay sends them again after the grace period (ids dedupe).
        logger.warning("could not mark notifications as sent", extra={"count": len(outcome.sent)})
    return len(outcome.sent)


def relay_pending(db: Database, limit: int = 500) -> dict[str, int]:
    """Publish due rows under a row lock, so concurrent relays never send the same row twice."""
    totals = {"sent": 0, "failed": 0}
    while True:
        with db.transaction() as con:
            rows: list[dict[str, Any]] = outbox.claim_pending(con, limit)
            if not rows:
                return totals
            outcome = publish(rows)
            outbox.mark_sent(con, outcome.sent)
            outbox.mark_failed(con, outcome.failed, outcome.error or "publish failed", RETRY_BASE_SECONDS)
        totals["sent"] += len(outcome.sent)
        totals["failed"] += len(outcome.failed)
        if outcome.failed or len(rows) < limit:
            return totals
