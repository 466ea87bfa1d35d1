"""Notification outbox: rows written with the change they announce, published after commit.

Publishing never happens inside a transaction. A relay *leases* due rows in one autocommit statement
(their next attempt moves `lease` seconds on, so other relays skip them), publishes with no lock held,
then marks what went out. A relay that dies mid-way leaves its rows to become due again when the lease
ends: at least once, never lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .db import Connection
from .rows import recordset

if TYPE_CHECKING:
    from .changes import OutboxRow

_LEASE_DUE = """
UPDATE notification_outbox o SET next_attempt_at = now() + make_interval(secs => CAST(:lease AS float8))
  FROM (SELECT id FROM notification_outbox
         WHERE sent_at IS NULL AND next_attempt_at <= now()
         ORDER BY next_attempt_at LIMIT :limit
         FOR UPDATE SKIP LOCKED) due
 WHERE o.id = due.id
RETURNING o.id, o.type, o.proxy_id, o.severity, o.message, o.attempts
"""


def lease_due(con: Connection, limit: int, lease_seconds: float) -> list[dict[str, Any]]:
    """Due rows, leased to the caller for `lease_seconds` (one autocommit statement, no lock kept)."""
    return con.rows_as_dicts(_LEASE_DUE, limit=limit, lease=float(lease_seconds))


# The ids reach the planner as a sub-select's value: planned for the array itself, the statement got
# a custom plan, planned anew, at most executions; this way PostgreSQL keeps one plan (an index scan
# of the ids) for every mark.
_MARK_SENT = """
UPDATE notification_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL
 WHERE id = ANY(CAST((SELECT CAST(:ids AS uuid[])) AS uuid[]))
"""


def mark_sent(con: Connection, ids: list[str]) -> None:
    if ids:
        con.run(_MARK_SENT, ids=ids)


def mark_failed(con: Connection, ids: list[str], error: str, base_delay_seconds: float) -> None:
    """Back off exponentially (capped at 15 minutes) before the next attempt."""
    if ids:
        con.run(
            "UPDATE notification_outbox SET attempts = attempts + 1, last_error = :error,"
            " next_attempt_at = now() + make_interval(secs => LEAST(900, CAST(:base AS float8) * power(2, attempts)))"
            " WHERE id = ANY(CAST(:ids AS uuid[]))",
            ids=ids,
            error=error[:1000],
            base=float(base_delay_seconds),
        )


def pending_count(con: Connection) -> int:
    rows = con.run("SELECT count(*) FROM notification_outbox WHERE sent_at IS NULL")
    return int(rows[0][0])


def oldest_pending_seconds(con: Connection) -> float:
    """How long the oldest unsent notification has waited (0 when none waits): an alarm watches it."""
    rows = con.run(
        "SELECT COALESCE(extract(epoch FROM (now() - min(created_at))), 0)::float8"
        " FROM notification_outbox WHERE sent_at IS NULL"
    )
    return float(rows[0][0])


_INSERT = """
INSERT INTO notification_outbox (id, type, proxy_id, user_id, severity, message, next_attempt_at)
SELECT r.id, r.type, r.proxy_id, r.user_id, r.severity, r.message,
       now() + make_interval(secs => CAST(:grace AS float8))
  FROM jsonb_to_recordset(CAST(:outbox AS jsonb)) AS r(
      id uuid, type text, proxy_id text, user_id text, severity text, message jsonb)
"""


def insert(con: Connection, rows: list[OutboxRow], grace_seconds: float, *, commit: bool = False) -> None:
    """Store notifications with the change they announce (the relay publishes them after
    `grace_seconds` if the writer has not by then); `commit` sends the COMMIT with them."""
    con.run(_INSERT, commit=commit, outbox=recordset([r._asdict() for r in rows]), grace=float(grace_seconds))
