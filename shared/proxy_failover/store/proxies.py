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
        failed_over = row["last_failover_at"]
        # a page arrives as JSON (see _PAGE_AS_ONE_VALUE): the time as its ISO 8601 text
        self.last_failover_at: datetime | None = (
            datetime.fromisoformat(failed_over) if isinstance(failed_over, str) else failed_over
        )
        self.last_failover_reason: str | None = row["last_failover_reason"]


# A page in byte order of the id after a key, for one owner or all. Each combination of filters is
# its own statement text (prepared once per connection), planned for exactly those conditions:
# walking an index in order and stopping after :limit rows. The counts of each proxy's
# instances, and its active one's name, come from one walk of its few index entries. The limit
# reaches the planner as a sub-select: a plan for "LIMIT $n" then costs what each page's plan costs,
# so PostgreSQL keeps the one generic plan instead of planning every page anew (planning was a
# third of the statement's time at 10,000 proxies).
_COLUMNS = f"""
SELECT p.proxy_id, p.owner_id, p.active_instance_id, n.active_instance_name,
       n.total_instances, n.healthy_instances, n.instances_in_maintenance,
       COALESCE(r.is_degraded, false) AS is_degraded, r.degraded_reasons,
       COALESCE(r.redundancy_level, 'none') AS redundancy_level,
       {config_or_default("failover_strategy")} AS strategy,
       r.last_failover_at, r.last_failover_reason"""
_REST = """
  LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
  CROSS JOIN LATERAL (
      SELECT count(*) AS total_instances,
             min(i.instance_name) FILTER (WHERE i.id = p.active_instance_id) AS active_instance_name,
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
    # One owner's proxies are a range of their own index, in id order. Written as a range, not as
    # "= :owner": PostgreSQL then cannot drop the owner from the order (as it does for a column
    # held equal), so only that index gives the order without a sort, and the one plan kept for any
    # owner is the right one for a small team beside a large one.
    "owner": "p.owner_id >= :owner AND p.owner_id <= :owner",
    "after": '({key} COLLATE "C") > :after',
    "prefix": '({key} COLLATE "C") >= :prefix AND ({key} COLLATE "C") < :prefix_end',
    "degraded": "COALESCE(r.is_degraded, false) = :degraded",
    "degraded_only": "r.is_degraded",
}


# The page's rows leave PostgreSQL as one JSON array in one value: pg8000 decodes a row a column at
# a time in Python (101 rows of 13 columns were a third of the handler's time), json.loads the whole
# array in C. The aggregate keeps the rows' id order.
_PAGE_AS_ONE_VALUE = """SELECT COALESCE(json_agg(page ORDER BY (page.proxy_id COLLATE "C")), '[]')
  FROM ({rows}) page"""


@functools.cache
def _list_sql(conditions: tuple[str, ...]) -> str:
    key, base = (
        ("r.proxy_id", _FROM_DEGRADED) if "degraded_only" in conditions else ("p.proxy_id", _FROM_PROXIES)
    )
    by_owner = "owner" in conditions and "degraded_only" not in conditions
    # the degraded ones are walked in their postures' order, an owner's kept by its proxy's key
    written = _CONDITIONS if by_owner else {**_CONDITIONS, "owner": "p.owner_id = :owner"}
    where = " AND ".join(written[c].format(key=key) for c in conditions) or "true"
    order = f'p.owner_id, ({key} COLLATE "C")' if by_owner else f'({key} COLLATE "C")'
    rows = f"{base}\n WHERE {where}\n ORDER BY {order} LIMIT (SELECT CAST(:limit AS bigint))"
    return _PAGE_AS_ONE_VALUE.format(rows=rows)


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
    found = [ProxySummary(r) for r in con.run(sql, **params)[0][0]]
    if len(found) <= limit:
        return Page(found)
    return Page(found[:limit], (found[limit - 1].proxy_id,))


def plan_of_list(con: Connection, *, generic: bool = False, **params: Any) -> dict[str, Any]:
    """PostgreSQL's plan of a page's rows with these parameters, as run (EXPLAIN ANALYZE, JSON): the
    Limit under the aggregate that makes them one value, for the test that holds the list to its
    indexes. `generic`: the plan a prepared page keeps after its first executions, made for any
    parameters (what the list runs warm)."""
    sql, given = _list_statement(**params)
    if generic:
        from pg8000.native import to_statement

        statement, make_values = to_statement(sql)
        values = make_values(given)
        con.run(f"PREPARE page_plan AS {statement}")
        try:
            con.run("SET plan_cache_mode = force_generic_plan")
            # EXECUTE's arguments are literals (a utility statement takes no bound parameters)
            arguments = ", ".join(_literal(v) for v in values)
            explained = con.run(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE page_plan({arguments})")
        finally:
            con.run("RESET plan_cache_mode")
            con.run("DEALLOCATE page_plan")
    else:
        explained = con.run("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, **given)
    plan: dict[str, Any] = explained[0][0][0]["Plan"]
    while plan["Node Type"] != "Limit":
        (plan,) = plan["Plans"]
    return plan


def _literal(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


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
