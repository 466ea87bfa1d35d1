"""Notification outbox: rows written with the change they announce, published after commit."""

from __future__ import annotations

from typing import Any

from .db import Connection

_CLAIM_PENDING = """
SELECT id, type, proxy_id, severity, message, attempts FROM notification_outbox
 WHERE sent_at IS NULL AND next_attempt_at <= now()
 ORDER BY next_attempt_at LIMIT :limit
 FOR UPDATE SKIP LOCKED
"""

_CLAIM_IDS = """
SELECT id, type, proxy_id, severity, message, attempts FROM notification_outbox
 WHERE id = ANY(CAST(:ids AS uuid[])) AND sent_at IS NULL
 FOR UPDATE SKIP LOCKED
"""


def claim_pending(con: Connection, limit: int) -> list[dict[str, Any]]:
    """Due rows, locked until the caller's transaction ends (concurrent relays skip them)."""
    return con.rows_as_dicts(_CLAIM_PENDING, limit=limit)


def claim_ids(con: Connection, ids: list[str]) -> list[dict[str, Any]]:
    return con.rows_as_dicts(_CLAIM_IDS, ids=ids)


def mark_sent(con: Connection, ids: list[str]) -> None:
    if ids:
        con.run(
            "UPDATE notification_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL"
            " WHERE id = ANY(CAST(:ids AS uuid[]))",
            ids=ids,
        )


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
