"""The sweep's claims: due proxies move one interval on as they are claimed, so concurrent sweeps
split the work and no instance is checked twice in one interval."""

from __future__ import annotations

from typing import Any

from .db import Connection

# Fixed cadence: the next check is one interval after the previous due time, unless we fell behind.
_CLAIM = """
WITH due AS (
    SELECT proxy_id FROM proxies
     WHERE next_check_at <= now()
     ORDER BY next_check_at
     LIMIT :limit
     FOR UPDATE SKIP LOCKED
)
UPDATE proxies p SET next_check_at = CASE
        WHEN p.next_check_at + make_interval(secs => COALESCE(c.health_check_interval_seconds, 30)) > now()
        THEN p.next_check_at + make_interval(secs => COALESCE(c.health_check_interval_seconds, 30))
        ELSE now() + make_interval(secs => COALESCE(c.health_check_interval_seconds, 30)) END
  FROM due LEFT JOIN proxy_failover_configurations c ON c.proxy_id = due.proxy_id
 WHERE p.proxy_id = due.proxy_id
RETURNING p.proxy_id,
          -- never longer than 90% of the interval, so a check ends before the next is due
          LEAST(COALESCE(c.health_check_timeout_seconds, 5)::float8,
                0.9 * COALESCE(c.health_check_interval_seconds, 30)) AS timeout_seconds
"""

_TARGETS = """
SELECT id, proxy_id, health_check_url FROM proxy_instances
 WHERE proxy_id = ANY(CAST(:ids AS text[])) AND health_check_url IS NOT NULL
"""


def claim_due(con: Connection, limit: int) -> list[dict[str, Any]]:
    return con.rows_as_dicts(_CLAIM, limit=limit)


def probe_targets(con: Connection, proxy_ids: list[str]) -> list[dict[str, Any]]:
    return con.rows_as_dicts(_TARGETS, ids=proxy_ids)


def seconds_until_next_due(con: Connection) -> float | None:
    rows = con.run("SELECT extract(epoch FROM (min(next_check_at) - now()))::float8 FROM proxies")
    value = rows[0][0] if rows else None
    return None if value is None else max(0.0, float(value))


def shortest_interval(con: Connection) -> float | None:
    """The shortest check interval of any proxy (the default's for a proxy without a config)."""
    rows = con.run(
        "SELECT min(COALESCE(c.health_check_interval_seconds, 30))::float8 FROM proxies p"
        " LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id"
    )
    value = rows[0][0] if rows else None
    return None if value is None else float(value)
