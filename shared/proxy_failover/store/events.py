"""The failover event ledger: pages of it, and one event read under its proxy's lock (an operator's
completion goes through the engine like every other write)."""

from __future__ import annotations

import functools
from datetime import datetime
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
       WHERE e.proxy_id = p.proxy_id AND e.removed_at IS NULL
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
        user=principal.owner,
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


# The ledger across proxies, newest first: one owner's by `proxy_failover_events_owner_idx`, all of
# them (an admin) by `proxy_failover_events_fleet_idx`; events of decommissioned proxies included.
# Each combination of filters is its own statement text, planned for exactly its conditions.
_FLEET_CONDITIONS = {
    "owner": "e.owner_id = :owner",
    "since": "e.started_at >= CAST(:since AS timestamptz)",
    "until": "e.started_at < CAST(:until AS timestamptz)",
    "type": "e.event_type = :type",
    "after_id": "(e.started_at, e.id) < (CAST(:after_started AS timestamptz), CAST(:after_id AS uuid))",
}


@functools.cache
def _fleet_sql(conditions: tuple[str, ...]) -> str:
    where = " AND ".join(_FLEET_CONDITIONS[c] for c in conditions) or "true"
    return (
        f"SELECT {EVENT_COLUMNS} FROM proxy_failover_events e WHERE {where}"
        " ORDER BY e.started_at DESC, e.id DESC LIMIT :limit"
    )


def fleet_events(
    con: Connection,
    principal: Principal,
    *,
    since: datetime | None,
    until: datetime | None,
    event_type: str | None,
    limit: int,
    after: list[Any] | None = None,
) -> Page[LedgerEvent]:
    """A page of the ledger of every proxy the principal may see (its own; an admin: all), newest
    first, with `since` <= startedAt < `until`."""
    if after is not None and len(after) != 2:
        raise invalid_cursor()
    params = {
        "owner": None if principal.is_admin else principal.owner,
        "since": since,
        "until": until,
        "type": event_type,
        "after_started": None if after is None else key_time(after[0]),
        "after_id": None if after is None else key_id(after[1]),
    }
    given = {name: value for name, value in params.items() if value is not None}
    sql = _fleet_sql(tuple(c for c in _FLEET_CONDITIONS if c in given))
    rows = con.rows_as_dicts(sql, **given, limit=limit + 1)
    found = [event_from_row(r) for r in rows]
    if len(found) <= limit:
        return Page(found)
    last = found[limit - 1]
    return Page(found[:limit], (last.started_at.isoformat(), last.id))


# An event as its proxy's lock holder sees it (call after `locks.lock_proxy_of_event`).
_EVENT = f"SELECT {EVENT_COLUMNS} FROM proxy_failover_events e WHERE e.id = CAST(:id AS uuid) AND e.removed_at IS NULL"


def read_event(con: Connection, event_id: str) -> LedgerEvent | None:
    row = con.one(_EVENT, id=event_id)
    return None if row is None else event_from_row(row)
