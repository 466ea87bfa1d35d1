"""The sweep's claims, per vantage: a vantage's due proxies move one interval on in its schedule as they
are claimed, so concurrent workers of a vantage split the work and none checks an instance twice in one
interval, while every vantage checks every proxy within its interval."""

from __future__ import annotations

from typing import NamedTuple

from ..domain.models import ProbeOptions
from .db import Connection
from .rows import config_or_default


class Claim(NamedTuple):
    proxy_id: str
    # never longer than 90% of the interval, so a check ends before the next is due
    timeout_seconds: float


class Target(NamedTuple):
    instance_id: str
    proxy_id: str
    url: str
    probe: ProbeOptions | None


_INTERVAL = config_or_default("health_check_interval_seconds")
# Fixed cadence: the next check is one interval after the previous due time, unless we fell behind.
_CLAIM = f"""
WITH due AS (
    SELECT proxy_id FROM proxy_schedule
     WHERE vantage = :vantage AND next_check_at <= now()
     ORDER BY next_check_at
     LIMIT :limit
     FOR UPDATE SKIP LOCKED
)
UPDATE proxy_schedule p SET next_check_at = CASE
        WHEN p.next_check_at + make_interval(secs => {_INTERVAL}) > now()
        THEN p.next_check_at + make_interval(secs => {_INTERVAL})
        ELSE now() + make_interval(secs => {_INTERVAL}) END
  FROM due LEFT JOIN proxy_failover_configurations c ON c.proxy_id = due.proxy_id
 WHERE p.vantage = :vantage AND p.proxy_id = due.proxy_id
RETURNING p.proxy_id,
          LEAST({config_or_default("health_check_timeout_seconds")}::float8, 0.9 * {_INTERVAL}) AS timeout_seconds
"""

_TARGETS = """
SELECT id, proxy_id, health_check_url, probe FROM proxy_instances
 WHERE proxy_id = ANY(CAST(:ids AS text[])) AND health_check_url IS NOT NULL
"""


def claim_due(con: Connection, vantage: str, limit: int) -> list[Claim]:
    return [
        Claim(str(proxy_id), float(timeout))
        for proxy_id, timeout in con.run(_CLAIM, vantage=vantage, limit=limit)
    ]


# A vantage that runs is known: its row says when it last ran (GET /fleet/safety, the majority's
# "absent"); a new one's schedule of every proxy is made by the table's trigger.
_REGISTER = """
INSERT INTO vantages (name, last_run_at) VALUES (:name, now())
ON CONFLICT (name) DO UPDATE SET last_run_at = now()
"""


def register_vantage(con: Connection, name: str) -> None:
    con.run(_REGISTER, name=name)


def vantage_idle(con: Connection, name: str) -> None:
    """Nothing is due at the vantage: it has two dispatch periods from now, as a vantage just started."""
    con.run("UPDATE vantages SET known_since = now() WHERE name = :name", name=name)


def know_vantage(con: Connection, name: str) -> None:
    """A vantage the dispatcher starts workers for: known before it first runs (then absent)."""
    con.run("INSERT INTO vantages (name) VALUES (:name) ON CONFLICT DO NOTHING", name=name)


def probe_targets(con: Connection, proxy_ids: list[str]) -> list[Target]:
    return [
        Target(str(i), str(p), str(url), None if probe is None else ProbeOptions(**probe))
        for i, p, url, probe in con.run(_TARGETS, ids=proxy_ids)
    ]


# Drills and maintenance whose time is up (partial indexes: no scan of the fleet).
_DEADLINES = """
SELECT proxy_id FROM proxies WHERE drill_until <= now()
UNION
SELECT proxy_id FROM proxies WHERE route_ramp_until <= now()
UNION
SELECT proxy_id FROM proxy_instances WHERE maintenance_until <= now()
LIMIT :limit
"""


def deadlines_due(con: Connection, limit: int) -> list[str]:
    return [str(row[0]) for row in con.run(_DEADLINES, limit=limit)]


# The next check due, or sooner the end of a drill, of a slow start's ramp or of maintenance.
_NEXT_DUE = """
SELECT extract(epoch FROM (LEAST(
    (SELECT min(next_check_at) FROM proxy_schedule WHERE vantage = :vantage),
    (SELECT min(drill_until) FROM proxies WHERE drill_until IS NOT NULL),
    (SELECT min(route_ramp_until) FROM proxies WHERE route_ramp_until IS NOT NULL),
    (SELECT min(maintenance_until) FROM proxy_instances WHERE maintenance_until IS NOT NULL)) - now()))::float8
"""


def seconds_until_next_due(con: Connection, vantage: str) -> float | None:
    rows = con.run(_NEXT_DUE, vantage=vantage)
    value = rows[0][0] if rows else None
    return None if value is None else max(0.0, float(value))


def shortest_interval(con: Connection) -> float | None:
    """The shortest check interval of any proxy (the default's for a proxy without a config)."""
    rows = con.run(
        f"SELECT min({_INTERVAL})::float8 FROM proxies p"
        " LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id"
    )
    value = rows[0][0] if rows else None
    return None if value is None else float(value)


class Backlog(NamedTuple):
    """What the sweep has to do: proxies due now, how late the oldest is, and the checks that fall
    due within the next `window` seconds (a proxy with a shorter interval falls due several times)."""

    due_proxies: int
    lag_seconds: float
    checks_in_window: float


# Every proxy due at the vantage within the window (by the due index), with its probe targets counted
# (a proxy with none still costs a claim and a write: one).
_BACKLOG = f"""
SELECT count(*) FILTER (WHERE p.next_check_at <= now()) AS due,
       COALESCE(extract(epoch FROM (now() - min(p.next_check_at))), 0)::float8 AS lag,
       COALESCE(sum(GREATEST(1, (SELECT count(*) FROM proxy_instances i
                                  WHERE i.proxy_id = p.proxy_id AND i.health_check_url IS NOT NULL))
                    * GREATEST(1.0, CAST(:window AS float8) / {_INTERVAL})), 0)::float8 AS checks
  FROM proxy_schedule p LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
 WHERE p.vantage = :vantage AND p.next_check_at <= now() + make_interval(secs => CAST(:window AS float8))
"""


def backlog(con: Connection, vantage: str, window_seconds: float) -> Backlog:
    due, lag, checks = con.run(_BACKLOG, vantage=vantage, window=float(window_seconds))[0]
    return Backlog(int(due), max(0.0, float(lag)), float(checks))


def lag_seconds(con: Connection, vantage: str) -> float:
    """How late the vantage's oldest due proxy is (0 when none is due)."""
    rows = con.run(
        "SELECT extract(epoch FROM (now() - min(next_check_at)))::float8 FROM proxy_schedule"
        " WHERE vantage = :vantage AND next_check_at <= now()",
        vantage=vantage,
    )
    value = rows[0][0] if rows else None
    return 0.0 if value is None else max(0.0, float(value))


def proxies_after(con: Connection, after: str, limit: int) -> list[str]:
    """A page of every proxy, in id order."""
    rows = con.run(
        "SELECT proxy_id FROM proxies WHERE proxy_id > :after ORDER BY proxy_id LIMIT :limit",
        after=after,
        limit=limit,
    )
    return [str(r[0]) for r in rows]


def proxies_of_instances(con: Connection, instance_ids: list[str]) -> list[str]:
    """The proxies these instances belong to (those still registered), in id order."""
    rows = con.run(
        "SELECT DISTINCT proxy_id FROM proxy_instances WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY proxy_id",
        ids=instance_ids,
    )
    return [str(r[0]) for r in rows]
