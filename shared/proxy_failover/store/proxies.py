"""The proxy aggregate in PostgreSQL: proxy row (owner, active instance, schedule), config, instances,
redundancy snapshot. Writers lock the proxy row first, then its instances, always in proxy_id order."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from ..domain.models import FailoverConfig, Instance, Redundancy
from ..errors import (
    ConstraintViolation,
    DuplicateInstanceName,
    InstanceLimitReached,
    InvalidInput,
    ProxyNotFound,
)
from ..identity import Principal
from ..paging import Page, invalid_cursor, key_id, key_time
from .db import Connection
from .rows import (
    CONFIG_COLUMNS,
    CONFIG_SELECT,
    INSTANCE_COLUMNS,
    config_from_row,
    instance_from_row,
    recordset,
    redundancy_from_row,
)


class ProxyState(NamedTuple):
    proxy_id: str
    owner_id: str
    active_instance_id: str | None
    config: FailoverConfig
    previous: Redundancy | None


_PROXY_SELECT = f"""
SELECT p.proxy_id, p.owner_id, p.active_instance_id, {CONFIG_SELECT},
       r.total_instances, r.healthy_instances, r.unhealthy_instances, r.active_instance_id AS r_active,
       r.backup_instance_ids, r.redundancy_level, r.is_degraded, r.degraded_reasons
  FROM proxies p
  LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
  LEFT JOIN proxy_redundancy_status r ON r.proxy_id = p.proxy_id
"""


def _proxy_state(row: dict[str, Any]) -> ProxyState:
    snapshot = dict(row, active_instance_id=row["r_active"])
    return ProxyState(
        proxy_id=row["proxy_id"],
        owner_id=row["owner_id"],
        active_instance_id=None if row["active_instance_id"] is None else str(row["active_instance_id"]),
        config=config_from_row(row),
        previous=redundancy_from_row(snapshot),
    )


_LOCK_ONE = (
    _PROXY_SELECT + " WHERE p.proxy_id = :proxy_id AND (CAST(:admin AS boolean) OR p.owner_id = :user)"
    " FOR UPDATE OF p"
)
_LOCK_MANY = (
    _PROXY_SELECT + " WHERE p.proxy_id = ANY(CAST(:ids AS text[])) ORDER BY p.proxy_id FOR UPDATE OF p"
)
_LOCK_BY_INSTANCE = (
    _PROXY_SELECT + " WHERE p.proxy_id = (SELECT proxy_id FROM proxy_instances WHERE id = CAST(:id AS uuid))"
    " AND (CAST(:admin AS boolean) OR p.owner_id = :user) FOR UPDATE OF p"
)


def lock_proxy(con: Connection, proxy_id: str, principal: Principal) -> ProxyState:
    row = con.one(_LOCK_ONE, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id)
    if row is None:
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return _proxy_state(row)


def lock_proxy_of_instance(con: Connection, instance_id: str, principal: Principal) -> ProxyState | None:
    row = con.one(_LOCK_BY_INSTANCE, id=instance_id, admin=principal.is_admin, user=principal.user_id)
    return None if row is None else _proxy_state(row)


def lock_proxies(con: Connection, proxy_ids: list[str]) -> list[ProxyState]:
    return [_proxy_state(r) for r in con.rows_as_dicts(_LOCK_MANY, ids=proxy_ids)]


_INSTANCE_NAMES = [c.strip() for c in INSTANCE_COLUMNS.split(",")]
# One statement, one snapshot, no locks: the proxy with its config, snapshot and every instance.
_READ_STATE = (
    _PROXY_SELECT.replace(
        "SELECT p.proxy_id,",
        "SELECT " + ", ".join(f"i.{c} AS i_{c}" for c in _INSTANCE_NAMES) + ", p.proxy_id,",
    )
    + " LEFT JOIN proxy_instances i ON i.proxy_id = p.proxy_id"
    " WHERE p.proxy_id = :proxy_id AND (CAST(:admin AS boolean) OR p.owner_id = :user)"
)


def read_state(con: Connection, proxy_id: str, principal: Principal) -> tuple[ProxyState, list[Instance]]:
    """The proxy and its instances as of one snapshot, without taking locks (for decisions that
    change nothing)."""
    rows = con.rows_as_dicts(_READ_STATE, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id)
    if not rows:
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    instances = [
        instance_from_row({c: row[f"i_{c}"] for c in _INSTANCE_NAMES})
        for row in rows
        if row["i_id"] is not None
    ]
    return _proxy_state(rows[0]), instances


_INSTANCES_OF = (
    f"SELECT {INSTANCE_COLUMNS} FROM proxy_instances WHERE proxy_id = ANY(CAST(:ids AS text[]))"
    " ORDER BY proxy_id, id FOR UPDATE"
)


def lock_instances(con: Connection, proxy_ids: list[str]) -> dict[str, list[Instance]]:
    found: dict[str, list[Instance]] = {pid: [] for pid in proxy_ids}
    for row in con.rows_as_dicts(_INSTANCES_OF, ids=proxy_ids):
        found[row["proxy_id"]].append(instance_from_row(row))
    return found


# Create the proxy, or lock the existing one when the caller may use it. DO UPDATE (not DO NOTHING):
# a concurrent creator's row is then waited for and returned even though this statement's snapshot
# predates it, so all of one owner's first writes succeed; another owner's row is neither changed nor
# returned (404).
_ENSURE = """
INSERT INTO proxies (proxy_id, owner_id, next_check_at)
VALUES (:proxy_id, :user, now() + random() * make_interval(secs => 30))
ON CONFLICT (proxy_id) DO UPDATE SET updated_at = now()
 WHERE proxies.owner_id = :user OR CAST(:admin AS boolean)
RETURNING proxy_id
"""


def ensure_proxy(con: Connection, proxy_id: str, principal: Principal) -> ProxyState:
    """Create the proxy owned by the caller, or lock the existing one if the caller may use it.

    The first writer of a proxy id owns it; another tenant's id is reported as not found.
    """
    if con.one(_ENSURE, proxy_id=proxy_id, user=principal.user_id, admin=principal.is_admin) is None:
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return lock_proxy(con, proxy_id, principal)  # a new statement: sees what the creator committed


def upsert_config(con: Connection, proxy_id: str, provided: dict[str, Any]) -> dict[str, Any]:
    """Insert the config, or update only the provided fields; returns the stored row."""
    columns = [c for c in CONFIG_COLUMNS if c in provided]
    values = {c: (provided[c].value if hasattr(provided[c], "value") else provided[c]) for c in columns}
    insert_cols = ", ".join(["proxy_id", *columns])
    insert_vals = ", ".join([":proxy_id", *[f":{c}" for c in columns]])
    updates = ", ".join([*(f"{c} = EXCLUDED.{c}" for c in columns), "updated_at = now()"])
    sql = (
        f"INSERT INTO proxy_failover_configurations ({insert_cols}) VALUES ({insert_vals})"
        f" ON CONFLICT (proxy_id) DO UPDATE SET {updates}"
        f" RETURNING proxy_id, {', '.join(CONFIG_COLUMNS)}, created_at, updated_at"
    )
    try:
        row = con.one(sql, proxy_id=proxy_id, **values)
    except ConstraintViolation as exc:
        if exc.constraint == "timeout_below_interval":
            raise InvalidInput(
                "healthCheckTimeoutSeconds must be less than healthCheckIntervalSeconds",
                details=[
                    {"field": "config.healthCheckTimeoutSeconds", "message": "must be below the interval"}
                ],
            ) from exc
        raise
    assert row is not None
    # Keep the sweep's cadence in step with a shorter interval right away.
    con.run(
        "UPDATE proxies SET next_check_at = LEAST(next_check_at, now() + make_interval(secs => :iv)),"
        " updated_at = now() WHERE proxy_id = :proxy_id",
        proxy_id=proxy_id,
        iv=row["health_check_interval_seconds"],
    )
    return row


_GET_CONFIG = (
    f"SELECT p.proxy_id, p.owner_id, c.created_at, c.updated_at, {CONFIG_SELECT} FROM proxies p"
    " JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id"
    " WHERE p.proxy_id = :proxy_id AND (CAST(:admin AS boolean) OR p.owner_id = :user)"
)


def get_config(con: Connection, proxy_id: str, principal: Principal) -> dict[str, Any] | None:
    row = con.one(_GET_CONFIG, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id)
    if row is None:
        return None
    return {"proxy_id": row["proxy_id"], "created_at": row["created_at"], "updated_at": row["updated_at"]} | {
        c: row["cfg_" + c] for c in CONFIG_COLUMNS
    }


# Below the cap only: the caller holds the proxy's lock, so the count cannot change underneath.
_INSERT_INSTANCE = f"""
INSERT INTO proxy_instances (proxy_id, instance_name, instance_type, priority, weight, health_check_url)
SELECT :proxy_id, :name, :type, :priority, :weight, :url
 WHERE (SELECT count(*) FROM proxy_instances WHERE proxy_id = :proxy_id) < :cap
RETURNING {INSTANCE_COLUMNS}
"""


def insert_instance(con: Connection, proxy_id: str, data: dict[str, Any], *, cap: int) -> dict[str, Any]:
    try:
        row = con.one(
            _INSERT_INSTANCE,
            proxy_id=proxy_id,
            name=data["instance_name"],
            type=data["instance_type"],
            priority=data["priority"],
            weight=data["weight"],
            url=data.get("health_check_url"),
            cap=cap,
        )
    except ConstraintViolation as exc:
        if exc.constraint == "instance_name_unique_per_proxy":
            raise DuplicateInstanceName(
                f"an instance named {data['instance_name']!r} is already registered for proxy {proxy_id}"
            ) from exc
        raise
    if row is None:
        raise InstanceLimitReached(f"proxy {proxy_id} already has the maximum of {cap} instances")
    return row


# One page in the contract's order (priority asc, weight desc, registration order), after a key.
_LIST_INSTANCES = f"""
SELECT p.proxy_id AS visible_proxy, p.active_instance_id AS active_id, i.*
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
 WHERE p.proxy_id = :proxy_id AND (CAST(:admin AS boolean) OR p.owner_id = :user)
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
) -> Page[dict[str, Any]]:
    """A page of instance rows (with `is_active`) in the contract's order; ProxyNotFound when not
    visible. One statement; a row more than the page is read to know whether another page follows."""
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
    found = [dict(r, is_active=r["active_id"] == r["id"]) for r in rows if r["id"] is not None]
    if len(found) <= limit:
        return Page(found)
    last = found[limit - 1]
    return Page(
        found[:limit], (last["priority"], last["weight"], last["created_at"].isoformat(), str(last["id"]))
    )


def get_instances(con: Connection, proxy_id: str) -> list[dict[str, Any]]:
    return con.rows_as_dicts(
        f"SELECT {INSTANCE_COLUMNS} FROM proxy_instances WHERE proxy_id = :proxy_id"
        " ORDER BY priority, weight DESC, created_at, id",
        proxy_id=proxy_id,
    )


# One round trip for the common report: the check changes counters but not the status. The WHERE
# clause is the state machine's "status unchanged" condition (domain.health.status_after), re-checked
# by PostgreSQL on the locked row; anything else falls through to the full transactional path.
_REPORT_FAST = f"""
WITH target AS (
    SELECT i.id, p.active_instance_id,
           COALESCE(c.unhealthy_threshold, 3) AS fall, COALESCE(c.healthy_threshold, 2) AS rise,
           COALESCE(c.failover_strategy, 'priority') AS strategy
      FROM proxy_instances i
      JOIN proxies p ON p.proxy_id = i.proxy_id
      LEFT JOIN proxy_failover_configurations c ON c.proxy_id = i.proxy_id
     WHERE i.id = CAST(:id AS uuid) AND (CAST(:admin AS boolean) OR p.owner_id = :user)
), updated AS (
    UPDATE proxy_instances i SET
        consecutive_failures = CASE CAST(:result AS text)
            WHEN 'unhealthy' THEN i.consecutive_failures + 1 WHEN 'healthy' THEN 0
            ELSE i.consecutive_failures END,
        consecutive_successes = CASE CAST(:result AS text)
            WHEN 'healthy' THEN i.consecutive_successes + 1 WHEN 'unhealthy' THEN 0
            ELSE i.consecutive_successes END,
        last_health_check = CAST(:now AS timestamptz),
        connection_count = COALESCE(CAST(:connections AS integer), i.connection_count),
        updated_at = now()
      FROM target t
     WHERE i.id = t.id
       AND NOT i.is_flapping
       AND (CAST(:connections AS integer) IS NULL OR t.strategy <> 'least_connections')
       AND CASE CAST(:result AS text)
            WHEN 'unhealthy' THEN i.health_status = 'unhealthy' OR i.consecutive_failures + 1 < t.fall
            WHEN 'healthy' THEN i.health_status = 'healthy'
                 OR (i.health_status = 'unhealthy' AND i.consecutive_successes + 1 < t.rise)
            ELSE true END
    RETURNING {", ".join("i." + c.strip() for c in INSTANCE_COLUMNS.split(","))}, t.active_instance_id
), stored_metrics AS (
    INSERT INTO proxy_instance_metrics (instance_id, recorded_at, cpu_percent, memory_percent, request_rate,
                                        average_latency_ms, error_rate, connection_count, throughput_mbps)
    SELECT u.id, CAST(:now AS timestamptz), m.cpu, m.mem, m.rate, m.latency, m.errors, m.conns, m.mbps
      FROM updated u,
           jsonb_to_record(CAST(:metrics AS jsonb)) AS m(cpu float8, mem float8, rate float8, latency float8,
                                                         errors float8, conns integer, mbps float8)
     WHERE CAST(:metrics AS jsonb) IS NOT NULL
)
SELECT (SELECT count(*) FROM target) AS found, u.*
  FROM (SELECT 1) AS one LEFT JOIN updated u ON true
"""


def report_fast(
    con: Connection,
    instance_id: str,
    principal: Principal,
    result: str,
    now: datetime,
    metrics: dict[str, Any] | None,
) -> tuple[bool, dict[str, Any] | None]:
    """(found, row): row is the updated instance when the fast path applied, else None."""
    row = con.one(
        _REPORT_FAST,
        id=instance_id,
        admin=principal.is_admin,
        user=principal.user_id,
        result=result,
        now=now,
        connections=(metrics or {}).get("conns"),
        metrics=recordset(metrics) if metrics else None,
    )
    assert row is not None
    if not row["found"]:
        return False, None
    if row["id"] is None:
        return True, None
    return True, dict(row, is_active=row["active_instance_id"] == row["id"])


def insert_metrics(con: Connection, instance_id: str, now: datetime, metrics: dict[str, Any]) -> None:
    con.run(
        "INSERT INTO proxy_instance_metrics (instance_id, recorded_at, cpu_percent, memory_percent,"
        " request_rate, average_latency_ms, error_rate, connection_count, throughput_mbps)"
        " SELECT CAST(:id AS uuid), CAST(:now AS timestamptz), m.cpu, m.mem, m.rate, m.latency, m.errors,"
        " m.conns, m.mbps FROM jsonb_to_record(CAST(:metrics AS jsonb)) AS m(cpu float8, mem float8,"
        " rate float8, latency float8, errors float8, conns integer, mbps float8)",
        id=instance_id,
        now=now,
        metrics=recordset(metrics),
    )


_GET_REDUNDANCY = """
SELECT r.* FROM proxy_redundancy_status r JOIN proxies p ON p.proxy_id = r.proxy_id
 WHERE r.proxy_id = :proxy_id AND (CAST(:admin AS boolean) OR p.owner_id = :user)
"""


def get_redundancy(con: Connection, proxy_id: str, principal: Principal) -> dict[str, Any] | None:
    return con.one(_GET_REDUNDANCY, proxy_id=proxy_id, admin=principal.is_admin, user=principal.user_id)
