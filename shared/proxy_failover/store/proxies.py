"""The proxy aggregate in PostgreSQL: the proxy row (owner, active instance, schedule), its config,
its instances and its redundancy snapshot.

A writer locks proxy rows first (several in proxy_id order), then reads the rest of the aggregate,
its instances locked too, in a statement of its own: a statement sees what was committed when it
started, so only one that starts after the lock is granted sees what the previous holder wrote.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Any, NamedTuple

from ..domain.models import Drill, FailoverConfig, HealthStatus, Instance, Redundancy
from ..errors import ProxyNotFound
from ..identity import Principal
from ..paging import Page, invalid_cursor, key_id, key_time
from .db import Connection
from .metrics import METRICS_INSERT, metrics_row
from .rows import (
    CONFIG_SELECT,
    INSTANCE_COLUMNS,
    INSTANCE_NAMES,
    Listed,
    StoredConfig,
    StoredRedundancy,
    config_from_row,
    config_or_default,
    instance_from_row,
    recordset,
    redundancy_from_row,
)

_VISIBLE = "(CAST(:admin AS boolean) OR p.owner_id = :user)"


class ProxyAggregate(NamedTuple):
    proxy_id: str
    owner_id: str
    active_instance_id: str | None
    config: FailoverConfig
    config_created_at: datetime | None  # None: no stored config, the proxy runs on the defaults
    previous: Redundancy | None  # the stored posture, None before the first instance
    instances: list[Instance]
    drill: Drill | None = None  # a drill in progress


# ---- locks ---------------------------------------------------------------------------------------

_LOCK = f"SELECT p.proxy_id FROM proxies p WHERE p.proxy_id = :proxy_id AND {_VISIBLE} FOR UPDATE"
_LOCK_OF_INSTANCE = f"""
SELECT p.proxy_id FROM proxies p
 WHERE p.proxy_id = (SELECT proxy_id FROM proxy_instances WHERE id = CAST(:id AS uuid)) AND {_VISIBLE}
   FOR UPDATE
"""
_LOCK_MANY = (
    "SELECT proxy_id FROM proxies WHERE proxy_id = ANY(CAST(:ids AS text[])) ORDER BY proxy_id FOR UPDATE"
)

# Create the proxy, or lock the existing one when the caller may use it. DO UPDATE (not DO NOTHING):
# a concurrent creator's row is then waited for and returned even though this statement's snapshot
# predates it, so all of one owner's first writes succeed; another owner's row is neither changed nor
# returned (404).
_ENSURE = f"""
INSERT INTO proxies (proxy_id, owner_id, next_check_at)
VALUES (:proxy_id, :user, now() + random() * make_interval(secs => {FailoverConfig().health_check_interval_seconds}))
ON CONFLICT (proxy_id) DO UPDATE SET updated_at = now()
 WHERE proxies.owner_id = :user OR CAST(:admin AS boolean)
RETURNING proxy_id
"""


def lock_proxy(con: Connection, proxy_id: str, principal: Principal) -> str:
    if not con.run(_LOCK, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id):
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return proxy_id


def lock_proxy_of_instance(con: Connection, instance_id: str, principal: Principal) -> str | None:
    rows = con.run(_LOCK_OF_INSTANCE, id=instance_id, admin=principal.is_admin, user=principal.user_id)
    return str(rows[0][0]) if rows else None


def lock_proxies(con: Connection, proxy_ids: list[str]) -> list[str]:
    return [str(row[0]) for row in con.run(_LOCK_MANY, ids=proxy_ids)]


def ensure_proxy(con: Connection, proxy_id: str, principal: Principal) -> str:
    """Create the proxy owned by the caller, or lock the existing one if the caller may use it.

    The first writer of a proxy id owns it; another tenant's id is reported as not found.
    """
    if not con.run(_ENSURE, proxy_id=proxy_id, user=principal.user_id, admin=principal.is_admin):
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return proxy_id


# ---- the aggregate -------------------------------------------------------------------------------

_REDUNDANCY_NAMES = (
    "total_instances",
    "healthy_instances",
    "unhealthy_instances",
    "active_instance_id",
    "backup_instance_ids",
    "redundancy_level",
    "is_degraded",
    "degraded_reasons",
)
_AGGREGATE = f"""
SELECT p.proxy_id, p.owner_id, p.active_instance_id, {CONFIG_SELECT}, c.created_at AS cfg_created_at,
       p.drill_event_id, p.drill_until, p.drill_return_to,
       {", ".join(f"r.{c} AS r_{c}" for c in _REDUNDANCY_NAMES)},
       {", ".join(f"i.{c} AS i_{c}" for c in INSTANCE_NAMES)}
  FROM proxies p
  LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
  LEFT JOIN proxy_redundancy_status r ON r.proxy_id = p.proxy_id
  LEFT JOIN {{instances}} i ON i.proxy_id = p.proxy_id
 WHERE {{where}}
 ORDER BY p.proxy_id, i.id
"""
# Proxies this transaction has locked, their instances locked too (in id order, as every writer does).
_READ_LOCKED = (
    "WITH locked AS MATERIALIZED (SELECT * FROM proxy_instances WHERE proxy_id = ANY(CAST(:ids AS text[]))"
    " ORDER BY proxy_id, id FOR UPDATE) "
    + _AGGREGATE.format(instances="locked", where="p.proxy_id = ANY(CAST(:ids AS text[]))")
)
# One proxy as one snapshot shows it, without locks (for decisions that change nothing).
_READ_STATE = _AGGREGATE.format(instances="proxy_instances", where=f"p.proxy_id = :proxy_id AND {_VISIBLE}")


def _aggregates(rows: list[dict[str, Any]]) -> list[ProxyAggregate]:
    found = []
    for proxy_id, group in groupby(rows, key=lambda r: r["proxy_id"]):
        members = list(group)
        first = members[0]
        found.append(
            ProxyAggregate(
                proxy_id=proxy_id,
                owner_id=first["owner_id"],
                active_instance_id=None
                if first["active_instance_id"] is None
                else str(first["active_instance_id"]),
                config=config_from_row(first),
                config_created_at=first["cfg_created_at"],
                previous=redundancy_from_row(first, prefix="r_"),
                instances=[instance_from_row(r, prefix="i_") for r in members if r["i_id"] is not None],
                drill=None
                if first["drill_event_id"] is None
                else Drill(str(first["drill_event_id"]), first["drill_until"], str(first["drill_return_to"])),
            )
        )
    return found


def read_locked(con: Connection, proxy_ids: list[str]) -> list[ProxyAggregate]:
    """The aggregates of proxies this transaction has locked (call after `lock_*`/`ensure_proxy`)."""
    return _aggregates(con.rows_as_dicts(_READ_LOCKED, ids=proxy_ids))


def read_state(con: Connection, proxy_id: str, principal: Principal) -> ProxyAggregate:
    """One proxy as of one snapshot, without locks; ProxyNotFound when not visible."""
    rows = con.rows_as_dicts(_READ_STATE, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id)
    if not rows:
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return _aggregates(rows)[0]


# ---- reads for the API ---------------------------------------------------------------------------

_GET_CONFIG = f"""
SELECT p.proxy_id, c.created_at, c.updated_at, {CONFIG_SELECT} FROM proxies p
  JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
 WHERE p.proxy_id = :proxy_id AND {_VISIBLE}
"""


def get_config(con: Connection, proxy_id: str, principal: Principal) -> StoredConfig | None:
    row = con.one(_GET_CONFIG, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id)
    if row is None:
        return None
    return StoredConfig(row["proxy_id"], config_from_row(row), row["created_at"], row["updated_at"])


# One page in the contract's order (priority asc, weight desc, registration order), after a key.
_LIST_INSTANCES = f"""
SELECT p.proxy_id AS visible_proxy, p.active_instance_id AS active_id,
       {", ".join(f"i.{c} AS i_{c}" for c in INSTANCE_NAMES)}
  FROM proxies p
  LEFT JOIN LATERAL (
      SELECT {INSTANCE_COLUMNS} FROM proxy_instances
       WHERE proxy_id = p.proxy_id
         AND (CAST(:after_id AS uuid) IS NULL
              OR (priority, -weight, created_at, id) > (CAST(:after_priority AS integer),
                  -CAST(:after_weight AS integer), CAST(:after_created AS timestamptz), CAST(:after_id AS uuid)))
       ORDER BY priority, weight DESC, created_at, id
       LIMIT :limit
  ) i ON true
 WHERE p.proxy_id = :proxy_id AND {_VISIBLE}
 ORDER BY i.priority, i.weight DESC, i.created_at, i.id
"""


def _instance_key(after: list[Any] | None) -> dict[str, Any]:
    if after is None:
        return {"after_priority": None, "after_weight": None, "after_created": None, "after_id": None}
    if len(after) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in after[:2]):
        raise invalid_cursor()
    priority, weight, created, instance_id = after
    return {
        "after_priority": priority,
        "after_weight": weight,
        "after_created": key_time(created),
        "after_id": key_id(instance_id),
    }


def list_instances(
    con: Connection, proxy_id: str, principal: Principal, limit: int, after: list[Any] | None = None
) -> Page[Listed]:
    """A page of instances in the contract's order; ProxyNotFound when not visible. One statement; a
    row more than the page is read to know whether another page follows."""
    rows = con.rows_as_dicts(
        _LIST_INSTANCES,
        proxy_id=proxy_id,
        admin=principal.is_admin,
        user=principal.user_id,
        limit=limit + 1,
        **_instance_key(after),
    )
    if not rows:
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    found = [
        Listed(instance_from_row(r, prefix="i_"), r["active_id"] == r["i_id"])
        for r in rows
        if r["i_id"] is not None
    ]
    if len(found) <= limit:
        return Page(found)
    last = found[limit - 1].instance
    assert last.created_at is not None
    return Page(found[:limit], (last.priority, last.weight, last.created_at.isoformat(), last.id))


_GET_REDUNDANCY = f"""
SELECT r.* FROM proxy_redundancy_status r JOIN proxies p ON p.proxy_id = r.proxy_id
 WHERE r.proxy_id = :proxy_id AND {_VISIBLE}
"""


def get_redundancy(con: Connection, proxy_id: str, principal: Principal) -> StoredRedundancy | None:
    row = con.one(_GET_REDUNDANCY, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id)
    if row is None:
        return None
    redundancy = redundancy_from_row(row)
    assert redundancy is not None
    return StoredRedundancy(
        row["proxy_id"], redundancy, row["last_failover_at"], row["last_failover_reason"], row["updated_at"]
    )


# ---- the common health report: one statement -----------------------------------------------------

# The check changes counters but not the status. The WHERE clause is the state machine's "status
# unchanged" condition (domain.health.status_after), re-checked by PostgreSQL on the locked row;
# anything else falls through to the engine. Flapping instances, and connection counts that order a
# least-connections proxy's backups, always take the engine's path.
_REPORT_FAST = f"""
WITH target AS (
    SELECT i.id, p.active_instance_id,
           {config_or_default("unhealthy_threshold")} AS fall, {config_or_default("healthy_threshold")} AS rise,
           {config_or_default("failover_strategy")} AS strategy
      FROM proxy_instances i
      JOIN proxies p ON p.proxy_id = i.proxy_id
      LEFT JOIN proxy_failover_configurations c ON c.proxy_id = i.proxy_id
     WHERE i.id = CAST(:id AS uuid) AND {_VISIBLE}
), updated AS (
    UPDATE proxy_instances i SET
        consecutive_failures = CASE CAST(:result AS text)
            WHEN 'unhealthy' THEN i.consecutive_failures + 1 WHEN 'healthy' THEN 0
            ELSE i.consecutive_failures END,
        consecutive_successes = CASE CAST(:result AS text)
            WHEN 'healthy' THEN i.consecutive_successes + 1 WHEN 'unhealthy' THEN 0
            ELSE i.consecutive_successes END,
        last_health_check = CAST(:now AS timestamptz),
        last_result_at = CAST(:now AS timestamptz),
        connection_count = COALESCE(CAST(:connections AS integer), i.connection_count),
        updated_at = CAST(:now AS timestamptz)
      FROM target t
     WHERE i.id = t.id
       AND NOT i.is_flapping
       AND (CAST(:connections AS integer) IS NULL OR t.strategy <> 'least_connections')
       AND CASE CAST(:result AS text)
            WHEN 'unhealthy' THEN i.health_status = 'unhealthy' OR i.consecutive_failures + 1 < t.fall
            WHEN 'healthy' THEN i.health_status = 'healthy'
                 OR (i.health_status = 'unhealthy' AND i.consecutive_successes + 1 < t.rise)
            ELSE true END
    RETURNING {", ".join(f"i.{c} AS i_{c}" for c in INSTANCE_NAMES)}, t.active_instance_id
), stored_metrics AS ({METRICS_INSERT} WHERE EXISTS (SELECT 1 FROM updated))
SELECT (SELECT count(*) FROM target) AS found, u.*
  FROM (SELECT 1) AS one LEFT JOIN updated u ON true
"""


def report_fast(
    con: Connection,
    instance_id: str,
    principal: Principal,
    result: HealthStatus,
    now: datetime,
    metrics: dict[str, Any] | None,
) -> tuple[bool, Listed | None]:
    """(found, instance): the instance after the report when this path applied, else None."""
    row = con.one(
        _REPORT_FAST,
        id=instance_id,
        admin=principal.is_admin,
        user=principal.user_id,
        result=result.value,
        now=now,
        connections=(metrics or {}).get("conns"),
        metrics=recordset([metrics_row(instance_id, now, metrics)] if metrics else []),
    )
    assert row is not None
    if not row["found"]:
        return False, None
    if row["i_id"] is None:
        return True, None
    return True, Listed(instance_from_row(row, prefix="i_"), row["active_instance_id"] == row["i_id"])


# A keyed report's first answer, for 10 minutes.
_REPORTED = """
SELECT response FROM report_keys
 WHERE instance_id = CAST(:id AS uuid) AND key = :key AND created_at > now() - interval '10 minutes'
"""


def reported(con: Connection, instance_id: str, key: str) -> dict[str, Any] | None:
    rows = con.run(_REPORTED, id=instance_id, key=key)
    return dict(rows[0][0]) if rows else None


# The routing answer, in one statement: the visible proxy, its active instance's endpoint, its load
# balancing settings and posture, and (with load balancing on) the instances that may take traffic.
_ROUTE = f"""
SELECT p.proxy_id, p.active_instance_id, a.endpoint AS active_endpoint, a.weight AS active_weight,
       a.connection_count AS active_connections,
       {config_or_default("enable_load_balancing")} AS load_balancing,
       {config_or_default("load_balancing_algorithm")} AS algorithm,
       COALESCE(r.is_degraded, true) AS degraded,
       i.id AS i_id, i.endpoint AS i_endpoint, i.weight AS i_weight, i.connection_count AS i_connections
  FROM proxies p
  LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
  LEFT JOIN proxy_redundancy_status r ON r.proxy_id = p.proxy_id
  LEFT JOIN proxy_instances a ON a.id = p.active_instance_id
  LEFT JOIN proxy_instances i ON i.proxy_id = p.proxy_id AND {config_or_default("enable_load_balancing")}
       AND i.health_status = 'healthy' AND NOT i.is_flapping
       AND (i.maintenance_until IS NULL OR i.maintenance_until <= now())
 WHERE p.proxy_id = :proxy_id AND {_VISIBLE}
 ORDER BY i.priority, i.weight DESC, i.created_at, i.id
"""


def route(con: Connection, proxy_id: str, principal: Principal) -> Any:
    """The routing answer; ProxyNotFound when not visible or without an instance."""
    from ..domain.models import LoadBalancingAlgorithm
    from ..domain.routing import Candidate, answer

    rows = con.rows_as_dicts(_ROUTE, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id)
    if not rows or rows[0]["active_instance_id"] is None:
        raise ProxyNotFound(f"proxy {proxy_id} not found, or has no instance")
    first = rows[0]
    active = Candidate(
        str(first["active_instance_id"]),
        first["active_endpoint"],
        first["active_weight"],
        first["active_connections"],
    )
    candidates = [
        Candidate(str(r["i_id"]), r["i_endpoint"], r["i_weight"], r["i_connections"])
        for r in rows
        if r["i_id"] is not None
    ]
    return answer(
        proxy_id,
        active,
        load_balancing=first["load_balancing"],
        algorithm=LoadBalancingAlgorithm(first["algorithm"]),
        candidates=candidates,
        degraded=first["degraded"],
    )
