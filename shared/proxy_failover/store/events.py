"""The failover event ledger: pages of it, and the completion of an event."""

from __future__ import annotations

from typing import Any

from ..domain.models import EventStatus
from ..errors import EventAlreadyCompleted, EventNotFound
from ..identity import Principal
from ..paging import Page, invalid_cursor, key_id, key_time
from .db import Connection
from .rows import EVENT_COLUMNS, EventRow, event_from_row

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
) -> Page[EventRow] | None:
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
    found = [event_from_row(r) for r in rows if r["id"] is not None]
    if len(found) <= limit:
        return Page(found)
    last = found[limit - 1]
    return Page(found[:limit], (last.started_at.isoformat(), last.id))


# One statement when the event is open; a second one only to tell "not found" from "already done".
# A drill's event completed by hand ends the drill where it stands (no switch back).
_COMPLETE = f"""
WITH done AS (
    UPDATE proxy_failover_events e SET status = :status, error_message = :error, completed_at = now(),
           duration_ms = COALESCE(CAST(:duration AS integer),
                                  GREATEST(0, (extract(epoch FROM (now() - e.started_at)) * 1000)::integer))
      FROM proxies p
     WHERE e.id = CAST(:id AS uuid) AND p.proxy_id = e.proxy_id AND e.status = 'in_progress'
       AND (CAST(:admin AS boolean) OR p.owner_id = :user)
    RETURNING e.*
), drill_over AS (
    UPDATE proxies SET drill_event_id = NULL, drill_until = NULL, drill_return_to = NULL
     WHERE drill_event_id IN (SELECT id FROM done)
)
SELECT {EVENT_COLUMNS} FROM done e
"""
_STATUS = """
SELECT e.status FROM proxy_failover_events e JOIN proxies p ON p.proxy_id = e.proxy_id
 WHERE e.id = CAST(:id AS uuid) AND (CAST(:admin AS boolean) OR p.owner_id = :user)
"""


def complete_event(
    con: Connection,
    event_id: str,
    principal: Principal,
    status: EventStatus,
    error: str | None,
    duration_ms: int | None,
) -> EventRow:
    admin, user = principal.is_admin, principal.user_id
    row = con.one(
        _COMPLETE, id=event_id, status=status.value, error=error, duration=duration_ms, admin=admin, user=user
    )
    if row is not None:
        return event_from_row(row)
    found = con.run(_STATUS, id=event_id, admin=admin, user=user)
    if not found:
        raise EventNotFound(f"failover event {event_id} not found")
    raise EventAlreadyCompleted(f"failover event {event_id} is already {found[0][0]}")
