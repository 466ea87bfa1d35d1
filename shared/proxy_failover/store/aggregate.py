"""The proxy aggregate as a writer reads it after locking (its instances locked too), or as one
snapshot shows it for a decision that changes nothing: the proxy row (owner, active instance, drill),
its config, its instances and its stored posture, in one statement."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from ..domain.models import Drill, ProxyAggregate
from ..domain.routing import route_from_json
from ..errors import ProxyNotFound
from ..identity import Principal
from .db import Connection
from .remembered import Versions, instance_versions
from .rows import (
    CONFIG_COLUMNS,
    CONFIG_SELECT,
    INSTANCE_NAMES,
    config_from_row,
    instance_from_row,
    redundancy_from_row,
)
from .tenancy import VISIBLE as _VISIBLE
from .tenancy import visible_to

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
# What a writer reads of a proxy (p), its config (c) and posture (r), then of each instance (i).
_PROXY_SELECTED = [
    "p.proxy_id",
    "p.owner_id",
    "p.active_instance_id",
    CONFIG_SELECT,
    "c.created_at AS cfg_created_at",
    "p.drill_event_id",
    "p.drill_until",
    "p.drill_return_to",
    "p.route",
    "p.route_version",
    "COALESCE((SELECT f.auto_failover = 'held' FROM fleet_safety f), false) AS automatic_held",
    *(f"r.{c} AS r_{c}" for c in _REDUNDANCY_NAMES),
]
_PROXY_PART = ", ".join(_PROXY_SELECTED)
_PROXY_WIDTH = len(_PROXY_SELECTED) - 1 + len(CONFIG_COLUMNS)  # CONFIG_SELECT is a column per field
_INSTANCE_PART = ", ".join(f"i.{c} AS i_{c}" for c in INSTANCE_NAMES)
_COLUMNS = f"{_PROXY_PART}, {_INSTANCE_PART}"
# Each row's version (the transaction that last wrote it), which a writer's remembered copy is checked
# against (`store.remembered`).
_AS_VERSION = "CAST(CAST({}.xmin AS text) AS bigint)"
_LOCKED_INSTANCES = f"SELECT *, {_AS_VERSION.format('proxy_instances')} AS row_version FROM proxy_instances"
_AGGREGATE = f"""
SELECT {_COLUMNS}, {_AS_VERSION.format("p")} AS p_version, {{instance_version}} AS i_version
  FROM proxies p
  LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
  LEFT JOIN proxy_redundancy_status r ON r.proxy_id = p.proxy_id
  LEFT JOIN {{instances}} i ON i.proxy_id = p.proxy_id
 WHERE {{where}}
 ORDER BY p.proxy_id, i.id
"""
# Proxies this transaction has locked, their instances locked too (in id order, as every writer does).
_READ_LOCKED = (
    f"WITH locked AS MATERIALIZED ({_LOCKED_INSTANCES} WHERE proxy_id = ANY(CAST(:ids AS text[]))"
    " ORDER BY proxy_id, id FOR UPDATE) "
    + _AGGREGATE.format(
        instances="locked", instance_version="i.row_version", where="p.proxy_id = ANY(CAST(:ids AS text[]))"
    )
)
# One proxy (a writer's, after a lock that waited for another writer) by equality: PostgreSQL keeps
# one plan for it, where an array of ids had it plan every execution anew.
_READ_ONE_LOCKED = (
    f"WITH locked AS MATERIALIZED ({_LOCKED_INSTANCES} WHERE proxy_id = :id ORDER BY id FOR UPDATE) "
    + _AGGREGATE.format(instances="locked", instance_version="i.row_version", where="p.proxy_id = :id")
)
# A lock and the read of what it locked in one statement: `{target}` locks proxies and returns their
# `proxy_id, write_seq, owner_id, created, row_version`. The instances are locked too, so their rows are the newest; the proxy row,
# config and posture are read as of the statement's snapshot, taken before any wait for the lock. If
# another writer committed in between, the locked row's `write_seq` (the newest) differs from the
# snapshot's and the caller reads again (`read_locked`) in a statement of its own.
# Each proxy comes as a row of its own (its instance columns NULL) followed by one row per instance
# (its proxy columns NULL but the id): the proxy's forty-odd values are decoded once rather than once
# per instance, which was a fifth of a status change's CPU in the driver.
_PROXY_NULLS = ", ".join(["i.proxy_id"] + ["NULL"] * (_PROXY_WIDTH - 1))
_LOCK_AND_READ = f"""
WITH target AS MATERIALIZED ({{target}}),
locked AS MATERIALIZED ({_LOCKED_INSTANCES} WHERE proxy_id IN (SELECT proxy_id FROM target)
                         ORDER BY proxy_id, id FOR UPDATE)
SELECT t.proxy_id AS locked_id, t.write_seq AS locked_seq, p.write_seq AS seen_seq,
       t.owner_id AS locked_owner, t.created AS locked_new, {_PROXY_PART},
       {", ".join(f"NULL AS i_{c}" for c in INSTANCE_NAMES)}, t.row_version AS p_version, NULL AS i_version
  FROM target t
  LEFT JOIN proxies p ON p.proxy_id = t.proxy_id
  LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
  LEFT JOIN proxy_redundancy_status r ON r.proxy_id = p.proxy_id
UNION ALL
SELECT i.proxy_id, NULL, NULL, NULL, NULL, {_PROXY_NULLS}, {_INSTANCE_PART}, NULL, i.row_version
  FROM locked i
 ORDER BY locked_id, i_id NULLS FIRST
"""


def lock_and_read(con: Connection, target: str, **params: Any) -> list[str]:
    """Run `target` (a statement that locks proxies, returning `proxy_id, write_seq, owner_id,
    created`) with the read of what it locked, in one round trip: the ids locked, in order. The
    aggregates are kept for the engine's `read_locked` when no other writer committed between the
    statement's snapshot and its lock (else it reads them again)."""
    rows = con.rows_as_dicts(_LOCK_AND_READ.format(target=target), **params)
    ids = list(dict.fromkeys(str(r["locked_id"]) for r in rows))
    proxies = [r for r in rows if r["locked_seq"] is not None]  # an instance's row has none
    for r in proxies:
        if r["locked_new"]:
            # Created by this very statement, so its snapshot could not see the row; nothing can hang
            # from it yet (no config, posture or instance): the new proxy is known without a read.
            r.update(proxy_id=r["locked_id"], owner_id=r["locked_owner"], route_version=0)
            r["seen_seq"] = r["locked_seq"]
    if all(r["seen_seq"] is not None and r["seen_seq"] == r["locked_seq"] for r in proxies):
        con.prefetched.update({a.proxy_id: a for a in _aggregates(rows)})
        con.versions.update(_versions(rows))
    return ids


# One proxy as one snapshot shows it, without locks (for decisions that change nothing).
_READ_STATE = _AGGREGATE.format(
    instances="proxy_instances",
    instance_version=_AS_VERSION.format("i"),
    where=f"p.proxy_id = :proxy_id AND {_VISIBLE}",
)


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
                automatic_held=bool(first["automatic_held"]),
                route=None if first["route"] is None else route_from_json(first["route"]),
                route_version=first["route_version"],
            )
        )
    return found


def read_locked(con: Connection, proxy_ids: list[str]) -> list[ProxyAggregate]:
    """The aggregates of proxies this transaction has locked (call after `lock_*`/`ensure_proxy`): as
    the lock read them when that read is known to be current, else read now (a round trip)."""
    wanted = sorted(set(proxy_ids))
    if wanted and all(p in con.prefetched for p in wanted):
        return [con.prefetched[p] for p in wanted]
    if len(wanted) == 1:
        rows = con.rows_as_dicts(_READ_ONE_LOCKED, id=wanted[0])
    else:
        rows = con.rows_as_dicts(_READ_LOCKED, ids=proxy_ids)
    con.versions.update(_versions(rows))
    return _aggregates(rows)


def _versions(rows: list[dict[str, Any]]) -> dict[str, Versions]:
    """Each proxy's row versions as read (its first row carries the proxy's; each instance's row its own)."""
    found = {}
    for proxy_id, group in groupby(rows, key=lambda r: r["proxy_id"]):
        members = list(group)
        first = members[0]
        instances = {str(r["i_id"]): r["i_version"] for r in members if r["i_id"] is not None}
        found[proxy_id] = Versions(
            first["p_version"], instance_versions(instances), bool(first["automatic_held"])
        )
    return found


def read_state(con: Connection, proxy_id: str, principal: Principal) -> ProxyAggregate:
    """One proxy as of one snapshot, without locks; ProxyNotFound when not visible."""
    rows = con.rows_as_dicts(_READ_STATE, proxy_id=proxy_id, **visible_to(principal))
    if not rows:
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return _aggregates(rows)[0]
