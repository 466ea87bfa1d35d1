"""The failover event ledger."""

from __future__ import annotations

from typing import Any

from ..identity import Principal
from ..paging import Page, invalid_cursor, key_id, key_time
from .db import Connection

EVENT_COLUMNS = (
    "e.id, e.proxy_id, e.event_type, e.status, e.source_instance_id, e.target_instance_id, e.reason, e.actor,"
    " e.error_message, e.duration_ms, e.started_at, e.completed_at"
)

_LIST = f"""
SELECT p.proxy_id AS visible_proxy, ev.*
  FROM proxies p
  LEFT JOIN LATERAL (
      SELECT {EVENT_COLUMNS} FROM proxy_failover_events e
       WHERE e.proxy_id = p.proxy_id
         AND (CAST(:after_id AS uuid) IS NULL
              OR (e.started_at, e.id) < (CAST(:after_started AS timestamptz), CAST(:after_id AS uuid)))
       ORDER BY e.started_at DESC, e.id DESC LIMIT :limit
  ) ev ON true
 WHERE p.proxy_id = :proxy_id AND (CAST(:admin AS boolean) OR p.owner_id = :user)
 ORDER BY ev.started_at DESC, ev.id DESC
"""


def list_events(
    con: Connection, proxy_id: str, principal: Principal, limit: int, after: list[Any] | None = None
) -> Page[dict[str, Any]] | None:
    """A page, newest first, after the key (started_at, id) of a previous page's last event; None
    when the proxy is not visible to the principal."""
    if after is not None and len(after) != 2:
        raise invalid_cursor()
    rows = con.rows_as_dicts(
        _LIST,
        proxy_id=proxy_id,
        limit=limit + 1,
        admin=principal.is_admin,
        user=principal.user_id,
        after_started=None if after is None else key_time(after[0]),
        after_id=None if after is None else key_id(after[1]),
    )
    if not rows:
        return None
    found = [r for r in rows if r["id"] is not None]
    if len(found) <= limit:
        return Page(found)
    last = found[limit - 1]
    return Page(found[:limit], (last["started_at"].isoformat(), str(last["id"])))


_LOCK_EVENT = f"""
SELECT {EVENT_COLUMNS} FROM proxy_failover_events e JOIN proxies p ON p.proxy_id = e.proxy_id
 WHERE e.id = CAST(:id AS uuid) AND (CAST(:admin AS boolean) OR p.owner_id = :user)
 FOR UPDATE OF e
"""

_COMPLETE = f"""
UPDATE proxy_failover_events e SET status = :status, error_message = :error, completed_at = now(),
       duration_ms = COALESCE(CAST(:duration AS integer),
                              GREATEST(0, (extract(epoch FROM (now() - e.started_at)) * 1000)::integer))
 WHERE e.id = CAST(:id AS uuid)
RETURNING {EVENT_COLUMNS}
"""


def lock_event(con: Connection, event_id: str, principal: Principal) -> dict[str, Any] | None:
    return con.one(_LOCK_EVENT, id=event_id, admin=principal.is_admin, user=principal.user_id)


def complete_event(
    con: Connection, event_id: str, status: str, error: str | None, duration_ms: int | None
) -> dict[str, Any]:
    row = con.one(_COMPLETE, id=event_id, status=status, error=error, duration=duration_ms)
    assert row is not None
    return row
