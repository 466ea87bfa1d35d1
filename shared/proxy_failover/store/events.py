"""The failover event ledger: pages of it, and one event read under its proxy's lock (an operator's
completion goes through the engine like every other write)."""

from __future__ import annotations

from typing import Any

from ..domain.models import LedgerEvent
from ..identity import Principal
from ..paging import Page, invalid_cursor, key_id, key_time
from .db import Connection
from .rows import EVENT_COLUMNS, event_from_row

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
) -> Page[LedgerEvent] | None:
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


# An event as its proxy's lock holder sees it (call after `locks.lock_proxy_of_event`).
_EVENT = f"SELECT {EVENT_COLUMNS} FROM proxy_failover_events e WHERE e.id = CAST(:id AS uuid)"


def read_event(con: Connection, event_id: str) -> LedgerEvent | None:
    row = con.one(_EVENT, id=event_id)
    return None if row is None else event_from_row(row)
