"""The fleet as operators list it (a page of proxy summaries in one statement), and a proxy's
decommission (one transaction under its lock)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from ..identity import Principal
from ..paging import Page, invalid_cursor
from .db import Connection
from .rows import config_or_default

# Past every character a proxy id may hold (letters, digits, '-', '_', '.', ':'): `q` <= id < `q~`
# is "starts with q", a range of the byte-ordered index.
_PAST_ID_CHARACTERS = "~"


class ProxySummary:
    """One proxy as the fleet list shows it: owner, active instance, the instances' counts now, the
    stored posture (none yet: a proxy with a config and no instance) and its latest failover."""

    __slots__ = (
        "active_instance_id",
        "active_instance_name",
        "degraded_reasons",
        "healthy_instances",
        "instances_in_maintenance",
        "is_degraded",
        "last_failover_at",
        "last_failover_reason",
        "owner_id",
        "proxy_id",
        "redundancy_level",
        "strategy",
        "total_instances",
    )

    def __init__(self, row: dict[str, Any]) -> None:
        self.proxy_id: str = row["proxy_id"]
        self.owner_id: str = row["owner_id"]
        active = row["active_instance_id"]
        self.active_instance_id: str | None = None if active is None else str(active)
        self.active_instance_name: str | None = row["active_instance_name"]
        self.total_instances: int = row["total_instances"]
        self.healthy_instances: int = row["healthy_instances"]
        self.instances_in_maintenance: int = row["instances_in_maintenance"]
        self.is_degraded: bool = row["is_degraded"]
        self.degraded_reasons: list[str] = list(row["degraded_reasons"] or ())
        self.redundancy_level: str = row["redundancy_level"]
        self.strategy: str = row["strategy"]
        self.last_failover_at: datetime | None = row["last_failover_at"]
        self.last_failover_reason: str | None = row["last_failover_reason"]


# A page in byte order of the id after a key, for one owner or all. Each combination of filters is
# its own statement text (prepared once per connection): PostgreSQL plans it for exactly those
# conditions, walking an index in order and stopping after :limit rows. The counts of each proxy's
# instances come from its few index entries.
_COLUMNS = f"""
SELECT p.proxy_id, p.owner_id, p.active_instance_id, a.instance_name AS active_instance_name,
       n.total_instances, n.healthy_instances, n.instances_in_maintenance,
       COALESCE(r.is_degraded, false) AS is_degraded, r.degraded_reasons,
       COALESCE(r.redundancy_level, 'none') AS redundancy_level,
       {config_or_default("failover_strategy")} AS strategy,
       r.last_failover_at, r.last_failover_reason"""
_REST = """
  LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
  LEFT JOIN proxy_instances a ON a.id = p.active_instance_id
  CROSS JOIN LATERAL (
      SELECT count(*) AS total_instances,
             count(*) FILTER (WHERE i.health_status = 'healthy') AS healthy_instances,
             count(*) FILTER (WHERE i.maintenance_until > now()) AS instances_in_maintenance
        FROM proxy_instances i WHERE i.proxy_id = p.proxy_id
  ) n"""
# Every proxy, in the order of its id (`proxies_page_idx`, or `proxies_owner_page_idx` for one owner)
_FROM_PROXIES = (
    f"{_COLUMNS}\n  FROM proxies p\n  LEFT JOIN proxy_redundancy_status r ON r.proxy_id = p.proxy_id{_REST}"
)
# Only the degraded ones, in the order of their postures' partial index (a few in a fleet: walking
# every proxy for them read ten rows a row shown when one in ten was degraded)
_FROM_DEGRADED = (
    f"{_COLUMNS}\n  FROM proxy_redundancy_status r\n  JOIN proxies p ON p.proxy_id = r.proxy_id{_REST}"
)
_CONDITIONS = {
    "owner": "p.owner_id = :owner",
    "after": '({key} COLLATE "C") > :after',
    "prefix": '({key} COLLATE "C") >= :prefix AND ({key} COLLATE "C") < :prefix_end',
    "degraded": "COALESCE(r.is_degraded, false) = :degraded",
    "degraded_only": "r.is_degraded",
}


@functools.cache
def _list_sql(conditions: tuple[str, ...]) -> str:
    key, base = (
        ("r.proxy_id", _FROM_DEGRADED) if "degraded_only" in conditions else ("p.proxy_id", _FROM_PROXIES)
    )
    where = " AND ".join(_CONDITIONS[c].format(key=key) for c in conditions) or "true"
    return f'{base}\n WHERE {where}\n ORDER BY ({key} COLLATE "C") LIMIT :limit'


def _list_statement(**params: Any) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of a page: the conditions whose parameters are given (a page of
    degraded proxies only is read from their postures)."""
    given = {name: value for name, value in params.items() if value is not None}
    if given.get("degraded") is True:
        del given["degraded"]
        given["degraded_only"] = True
    conditions = tuple(c for c in _CONDITIONS if c in given)
    given.pop("degraded_only", None)
    return _list_sql(conditions), given


def list_proxies(
    con: Connection,
    principal: Principal,
    *,
    owner: str | None,
    prefix: str | None,
    degraded: bool | None,
    limit: int,
    after: list[Any] | None = None,
) -> Page[ProxySummary]:
    """A page of the proxies the principal may see (an admin: all, or `owner`'s), in id order, after
    a previous page's last id. One statement; a row more than the page says whether another follows."""
    if after is not None and (len(after) != 1 or not isinstance(after[0], str) or "\x00" in after[0]):
        raise invalid_cursor()
    sql, params = _list_statement(
        owner=owner if principal.is_admin else principal.owner,
        after=None if after is None else after[0],
        prefix=prefix,
        prefix_end=None if prefix is None else prefix + _PAST_ID_CHARACTERS,
        degraded=degraded,
        limit=limit + 1,
    )
    found = [ProxySummary(r) for r in con.rows_as_dicts(sql, **params)]
    if len(found) <= limit:
        return Page(found)
    return Page(found[:limit], (found[limit - 1].proxy_id,))


def plan_of_list(con: Connection, **params: Any) -> dict[str, Any]:
    """PostgreSQL's plan of a page with these parameters, as run (EXPLAIN ANALYZE, JSON), for the
    test that holds the list to its indexes."""
    sql, given = _list_statement(**params)
    plan: dict[str, Any] = con.run("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, **given)[0][0][0]["Plan"]
    return plan


class Removed:
    """What a decommission removed: the proxy's instances, whether it had a config, and what it kept
    (its ledger events and config versions, until retention)."""

    __slots__ = ("had_config", "instance_ids", "kept_config_versions", "kept_events", "owner_id", "proxy_id")

    def __init__(
        self,
        proxy_id: str,
        owner_id: str,
        instance_ids: list[str],
        had_config: bool,
        kept_events: int,
        kept_config_versions: int,
    ) -> None:
        self.proxy_id, self.owner_id, self.instance_ids = proxy_id, owner_id, instance_ids
        self.had_config, self.kept_events, self.kept_config_versions = (
            had_config,
            kept_events,
            kept_config_versions,
        )


# Under the proxy's lock (taken by the caller): its ledger and config history are marked as a removed
# proxy's (kept until retention; a proxy created later under the same id starts without them), events
# still in progress are closed, and the proxy row goes, its config, instances (their metrics, keys
# and check history), posture and schedule with it (ON DELETE CASCADE). One statement.
_DECOMMISSION = """
WITH instances AS (
    SELECT id FROM proxy_instances WHERE proxy_id = :proxy_id
), allowed AS (
    SELECT 1 WHERE CAST(:force AS boolean) OR NOT EXISTS (SELECT 1 FROM instances)
), config AS (
    SELECT 1 FROM proxy_failover_configurations WHERE proxy_id = :proxy_id
), events AS (
    UPDATE proxy_failover_events SET
        removed_at = CAST(:now AS timestamptz),
        status = CASE WHEN status = 'in_progress' THEN 'failed' ELSE status END,
        error_message = CASE WHEN status = 'in_progress' THEN 'proxy decommissioned' ELSE error_message END,
        completed_at = CASE WHEN status = 'in_progress' THEN CAST(:now AS timestamptz) ELSE completed_at END
     WHERE proxy_id = :proxy_id AND removed_at IS NULL AND EXISTS (SELECT 1 FROM allowed)
    RETURNING 1
), versions AS (
    UPDATE config_versions SET removed_at = CAST(:now AS timestamptz)
     WHERE proxy_id = :proxy_id AND removed_at IS NULL AND EXISTS (SELECT 1 FROM allowed)
    RETURNING 1
), gone AS (
    DELETE FROM proxies WHERE proxy_id = :proxy_id AND EXISTS (SELECT 1 FROM allowed) RETURNING owner_id
)
SELECT (SELECT owner_id FROM gone),
       ARRAY(SELECT id::text FROM instances ORDER BY id),
       EXISTS (SELECT 1 FROM config),
       (SELECT count(*) FROM events),
       (SELECT count(*) FROM versions)
"""


def decommission(con: Connection, proxy_id: str, now: datetime, *, force: bool) -> Removed | None:
    """Remove a proxy whose lock the transaction holds; None (nothing changed) when it still has
    instances and `force` is not given."""
    ((owner, instance_ids, had_config, events, versions),) = con.run(
        _DECOMMISSION, proxy_id=proxy_id, now=now, force=force
    )
    if owner is None:
        return None
    return Removed(proxy_id, owner, list(instance_ids), had_config, events, versions)
