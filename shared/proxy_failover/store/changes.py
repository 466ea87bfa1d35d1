"""Writing what the engine decided (`domain.change.Change`s), for any number of proxies, in one
statement: the only place a change becomes rows and column names.

Each part of the statement reads its own recordset, and only the parts with rows are sent; data-
modifying WITH parts always run to completion. The parts touch different rows, so none needs to see
another's effect (they share one snapshot). One round trip, the transaction's COMMIT with it.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from ..domain.change import Change, Recorded
from ..domain.models import LedgerEvent, RouteAnswer
from ..domain.routing import ramp_ends, route_json
from .db import Connection, Guard
from .metrics import METRICS_INSERT, sample_row
from .rows import CONFIG_COLUMNS, Listed, instance_state, listed_json, new_instance_row, recordset


class OutboxRow(NamedTuple):
    id: str
    type: str
    proxy_id: str | None  # None: a fleet-wide notification
    user_id: str | None
    severity: str
    message: dict[str, Any]


_CONFIG_TYPES = {
    "failover_strategy": "text",
    "load_balancing_algorithm": "text",
    "enable_auto_failover": "boolean",
    "enable_auto_recovery": "boolean",
    "enable_load_balancing": "boolean",
}
_CONFIG_RECORD = ", ".join(f"{c} {_CONFIG_TYPES.get(c, 'integer')}" for c in CONFIG_COLUMNS)

# Each part of the write statement: the recordset parameter it reads, and its SQL. A write is sent
# with only the parts whose recordsets hold rows (fewer parts: less for PostgreSQL to plan and run;
# each combination is a statement prepared once per connection).
#
# A part that joins its rows to a table also names their keys as an array (`= ANY(ARRAY(...))`).
# `jsonb_to_recordset` is planned as a hundred rows whatever it holds; joined to a table of a few
# thousand rows or more, a hundred index lookups cost more on paper than reading the whole table, so
# the write of one proxy hashed every proxy (20,000 proxies: 8 ms of PostgreSQL a status change
# instead of 2). An array of keys is planned as a few index lookups, however large the table.
_PARTS: dict[str, tuple[str, str]] = {
    "instances": (
        "instances",
        """
    UPDATE proxy_instances i SET
        instance_name = r.instance_name,
        instance_type = r.instance_type,
        priority = r.priority,
        weight = r.weight,
        health_check_url = r.health_check_url,
        endpoint = r.endpoint,
        probe = r.probe,
        maintenance_until = r.maintenance_until,
        maintenance_reason = r.maintenance_reason,
        maintenance_started_by = r.maintenance_started_by,
        last_result_at = r.last_result_at,
        health_status = r.health_status,
        consecutive_failures = r.consecutive_failures,
        consecutive_successes = r.consecutive_successes,
        last_health_check = r.last_health_check,
        last_status_change = r.last_status_change,
        last_latency_ms = COALESCE(r.last_latency_ms, i.last_latency_ms),
        connection_count = r.connection_count,
        status_changes = r.status_changes,
        is_flapping = r.is_flapping,
        recovery_attempts = r.recovery_attempts,
        next_recovery_at = r.next_recovery_at,
        needs_attention = r.needs_attention,
        incident_id = r.incident_id,
        vantage_state = r.vantage_state,
        reports_recorded = r.reports_recorded,
        updated_at = CAST(:now AS timestamptz)
      FROM jsonb_to_recordset(CAST(:instances AS jsonb)) AS r(
          id uuid, instance_name text, instance_type text, priority integer, weight integer,
          health_check_url text, endpoint text, probe jsonb, maintenance_until timestamptz,
          maintenance_reason text, maintenance_started_by text, last_result_at timestamptz,
          health_status text, consecutive_failures integer, consecutive_successes integer,
          last_health_check timestamptz, last_status_change timestamptz, last_latency_ms float8,
          connection_count integer, status_changes timestamptz[], is_flapping boolean,
          recovery_attempts integer, next_recovery_at timestamptz, needs_attention boolean,
          incident_id uuid, vantage_state jsonb, reports_recorded integer)
     WHERE i.id = r.id AND i.id = ANY(ARRAY(SELECT CAST(x ->> 'id' AS uuid) FROM jsonb_array_elements(CAST(:instances AS jsonb)) x))
""",
    ),
    "added": (
        "added",
        """
    INSERT INTO proxy_instances (id, proxy_id, instance_name, instance_type, priority, weight,
                                 health_check_url, endpoint, probe, health_status, created_at, updated_at)
    SELECT r.id, r.proxy_id, r.instance_name, r.instance_type, r.priority, r.weight, r.health_check_url,
           r.endpoint, r.probe, r.health_status, r.created_at, r.created_at
      FROM jsonb_to_recordset(CAST(:added AS jsonb)) AS r(
          id uuid, proxy_id text, instance_name text, instance_type text, priority integer, weight integer,
          health_check_url text, endpoint text, probe jsonb, health_status text, created_at timestamptz)
""",
    ),
    "removed": (
        "removed",
        """
    DELETE FROM proxy_instances i
     WHERE i.id = ANY(ARRAY(SELECT CAST(jsonb_array_elements_text(CAST(:removed AS jsonb)) AS uuid)))
""",
    ),
    "history": (
        "history",
        """
    -- the check history: each result overwrites the oldest of its ring (bounded as it is written)
    INSERT INTO check_results AS h (instance_id, source_key, slot, checked_at, result, latency_ms, reason)
    SELECT r.instance_id, r.source_key, r.slot, r.checked_at, r.result, r.latency_ms, r.reason
      FROM jsonb_to_recordset(CAST(:history AS jsonb)) AS r(
          instance_id uuid, source_key text, slot smallint, checked_at timestamptz, result text,
          latency_ms float8, reason text)
    ON CONFLICT (instance_id, source_key, slot) DO UPDATE SET
        checked_at = EXCLUDED.checked_at, result = EXCLUDED.result, latency_ms = EXCLUDED.latency_ms,
        reason = EXCLUDED.reason
""",
    ),
    "keyed": (
        "report_keys",
        """
    INSERT INTO report_keys (instance_id, key, response, created_at)
    SELECT r.instance_id, r.key, r.response, CAST(:now AS timestamptz)
      FROM jsonb_to_recordset(CAST(:report_keys AS jsonb)) AS r(instance_id uuid, key text, response jsonb)
    ON CONFLICT (instance_id, key) DO UPDATE SET response = EXCLUDED.response, created_at = EXCLUDED.created_at
""",
    ),
    "proxies": (
        "proxies",
        """
    -- a new active instance; a drill started or over; a new routing answer and its version; and the
    -- aggregate's write sequence, which tells a writer whose lock waited for this one to read again
    UPDATE proxies p SET
        active_instance_id = CASE WHEN r.set_active THEN r.active_instance_id ELSE p.active_instance_id END,
        drill_event_id = CASE WHEN r.set_drill THEN r.drill_event_id ELSE p.drill_event_id END,
        drill_until = CASE WHEN r.set_drill THEN r.drill_until ELSE p.drill_until END,
        drill_return_to = CASE WHEN r.set_drill THEN r.drill_return_to ELSE p.drill_return_to END,
        route = CASE WHEN r.set_route THEN r.route ELSE p.route END,
        route_version = CASE WHEN r.set_route THEN r.route_version ELSE p.route_version END,
        route_ramp_until = CASE WHEN r.set_route THEN r.route_ramp_until ELSE p.route_ramp_until END,
        write_seq = p.write_seq + 1,
        updated_at = CAST(:now AS timestamptz)
      FROM jsonb_to_recordset(CAST(:proxies AS jsonb)) AS r(
          proxy_id text, set_active boolean, active_instance_id uuid, interval integer, set_drill boolean,
          drill_event_id uuid, drill_until timestamptz, drill_return_to uuid, set_route boolean,
          route jsonb, route_version bigint, route_ramp_until timestamptz)
     WHERE p.proxy_id = r.proxy_id
       AND p.proxy_id = ANY(ARRAY(SELECT x ->> 'proxy_id' FROM jsonb_array_elements(CAST(:proxies AS jsonb)) x))
""",
    ),
    "schedule": (
        "schedule",
        """
    -- a shorter check interval takes effect at once, at every vantage
    UPDATE proxy_schedule s SET
        next_check_at = LEAST(s.next_check_at, CAST(:now AS timestamptz) + make_interval(secs => r.interval))
      FROM jsonb_to_recordset(CAST(:schedule AS jsonb)) AS r(proxy_id text, interval integer)
     WHERE s.proxy_id = r.proxy_id
       AND s.proxy_id = ANY(ARRAY(SELECT x ->> 'proxy_id' FROM jsonb_array_elements(CAST(:schedule AS jsonb)) x))
""",
    ),
    "completions": (
        "completions",
        """
    -- events of earlier transactions (a drill's, an operator's completion); each proxy's are written
    -- under its lock, so "still in progress" was read and holds
    UPDATE proxy_failover_events e SET
        status = r.status, error_message = r.error_message, completed_at = CAST(:now AS timestamptz),
        duration_ms = COALESCE(r.duration_ms,
            GREATEST(0, (extract(epoch FROM (CAST(:now AS timestamptz) - e.started_at)) * 1000)::integer))
      FROM jsonb_to_recordset(CAST(:completions AS jsonb)) AS r(
          id uuid, status text, error_message text, duration_ms integer)
     WHERE e.id = r.id AND e.status = 'in_progress'
       AND e.id = ANY(ARRAY(SELECT CAST(x ->> 'id' AS uuid) FROM jsonb_array_elements(CAST(:completions AS jsonb)) x))
""",
    ),
    "versions": (
        "versions",
        """
    -- numbered under the proxy's lock: one writer of a proxy's config at a time
    INSERT INTO config_versions (proxy_id, version, config, changes, changed_by, changed_at)
    SELECT r.proxy_id,
           COALESCE((SELECT max(v.version) FROM config_versions v
                      WHERE v.proxy_id = r.proxy_id AND v.removed_at IS NULL), 0) + 1,
           r.config, r.changes, r.changed_by, CAST(:now AS timestamptz)
      FROM jsonb_to_recordset(CAST(:versions AS jsonb)) AS r(
          proxy_id text, config jsonb, changes jsonb, changed_by text)
""",
    ),
    "config": (
        "config",
        f"""
    INSERT INTO proxy_failover_configurations AS s (proxy_id, {", ".join(CONFIG_COLUMNS)}, created_at, updated_at)
    SELECT r.proxy_id, {", ".join(f"r.{c}" for c in CONFIG_COLUMNS)}, CAST(:now AS timestamptz),
           CAST(:now AS timestamptz)
      FROM jsonb_to_recordset(CAST(:config AS jsonb)) AS r(proxy_id text, {_CONFIG_RECORD})
    ON CONFLICT (proxy_id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in CONFIG_COLUMNS)}, updated_at = EXCLUDED.updated_at
""",
    ),
    "events": (
        "events",
        """
    INSERT INTO proxy_failover_events (id, proxy_id, owner_id, event_type, status, source_instance_id,
                                       target_instance_id, reason, actor, started_at, completed_at, duration_ms)
    SELECT r.id, r.proxy_id, r.owner_id, r.event_type, r.status, r.source_instance_id, r.target_instance_id, r.reason,
           r.actor, r.started_at, r.completed_at, r.duration_ms
      FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS r(
          id uuid, proxy_id text, owner_id text, event_type text, status text, source_instance_id uuid,
          target_instance_id uuid, reason text, actor text, started_at timestamptz, completed_at timestamptz,
          duration_ms integer)
""",
    ),
    "recoveries": (
        "closures",
        """
    -- closes recovery cycles opened by earlier transactions (a plan never opens and closes one)
    UPDATE proxy_failover_events e SET
        status = r.status, error_message = r.error_message, completed_at = r.completed_at,
        duration_ms = GREATEST(0, (extract(epoch FROM (r.completed_at - e.started_at)) * 1000)::integer)
      FROM jsonb_to_recordset(CAST(:closures AS jsonb)) AS r(
          instance_id uuid, status text, error_message text, completed_at timestamptz)
     WHERE e.source_instance_id = r.instance_id AND e.event_type = 'recovery' AND e.status = 'in_progress'
       AND e.source_instance_id = ANY(ARRAY(
           SELECT CAST(x ->> 'instance_id' AS uuid) FROM jsonb_array_elements(CAST(:closures AS jsonb)) x))
""",
    ),
    "redundancy": (
        "redundancy",
        """
    INSERT INTO proxy_redundancy_status AS s (proxy_id, total_instances, healthy_instances,
            unhealthy_instances, active_instance_id, backup_instance_ids, redundancy_level, is_degraded,
            degraded_reasons, last_failover_at, last_failover_reason, updated_at)
    SELECT r.proxy_id, r.total_instances, r.healthy_instances, r.unhealthy_instances, r.active_instance_id,
           r.backup_instance_ids, r.redundancy_level, r.is_degraded, r.degraded_reasons,
           r.last_failover_at, r.last_failover_reason, CAST(:now AS timestamptz)
      FROM jsonb_to_recordset(CAST(:redundancy AS jsonb)) AS r(
          proxy_id text, total_instances integer, healthy_instances integer, unhealthy_instances integer,
          active_instance_id uuid, backup_instance_ids uuid[], redundancy_level text, is_degraded boolean,
          degraded_reasons text[], last_failover_at timestamptz, last_failover_reason text)
    ON CONFLICT (proxy_id) DO UPDATE SET
        total_instances = EXCLUDED.total_instances, healthy_instances = EXCLUDED.healthy_instances,
        unhealthy_instances = EXCLUDED.unhealthy_instances, active_instance_id = EXCLUDED.active_instance_id,
        backup_instance_ids = EXCLUDED.backup_instance_ids, redundancy_level = EXCLUDED.redundancy_level,
        is_degraded = EXCLUDED.is_degraded, degraded_reasons = EXCLUDED.degraded_reasons,
        last_failover_at = COALESCE(EXCLUDED.last_failover_at, s.last_failover_at),
        last_failover_reason = COALESCE(EXCLUDED.last_failover_reason, s.last_failover_reason),
        updated_at = EXCLUDED.updated_at
""",
    ),
    "outbox": (
        "outbox",
        """
    INSERT INTO notification_outbox (id, type, proxy_id, user_id, severity, message, next_attempt_at)
    SELECT r.id, r.type, r.proxy_id, r.user_id, r.severity, r.message,
           now() + make_interval(secs => CAST(:grace AS float8))
      FROM jsonb_to_recordset(CAST(:outbox AS jsonb)) AS r(
          id uuid, type text, proxy_id text, user_id text, severity text, message jsonb)
""",
    ),
    "metrics": ("metrics", METRICS_INSERT),
}


@lru_cache(maxsize=256)
def _statement(names: tuple[str, ...]) -> str:
    """The write statement of those parts (in `_PARTS`' order: instances before what refers to them)."""
    # answers with the writing transaction's id: each row it wrote now carries it as its xmin
    return (
        "WITH "
        + ",\n".join(f"{name} AS (\n{_PARTS[name][1]})" for name in names)
        + "\nSELECT CAST(txid_current() % 4294967296 AS bigint)"
    )


# After the COMMIT, in the same message: the owners' storms decided on what has committed (theirs and
# every concurrent writer's pages), each owner's storm row locked for this statement only. In a storm
# the write's pages become `warning` naming it, and the write that opens it adds the fleet_incident.
_STORMS = """
SELECT id, type, proxy_id, user_id, severity, message, n
  FROM storm_after_commit(CAST(:pages AS jsonb), CAST(:now AS timestamptz), CAST(:threshold AS integer),
                          CAST(:grace AS float8))
"""


class Written(NamedTuple):
    """What a write left: the notifications to publish as they now stand, the writing transaction's
    id (None: nothing was written) and the proxies whose own row it wrote."""

    outbox: list[OutboxRow]
    xid: int | None
    proxies: set[str]


def write(
    con: Connection,
    changes: list[Change],
    outbox: list[OutboxRow],
    *,
    now: datetime,
    outbox_grace_seconds: float,
    storm_threshold: int,
    record_checks: bool = True,
    guard: Guard | None = None,
) -> Written:
    """Persist the changes of many proxies and their notifications in one statement, whatever their
    number, with the transaction's COMMIT; when some notification pages
    (critical, of an owner, no drill's), the owners' storms are decided right after that COMMIT by a
    statement in the same message. One round trip. In a storm the write's pages are `warning`, and a
    fleet_incident leads them. A `guard` runs first in the same message (`store.remembered`)."""
    pages: dict[str, tuple[list[str], list[str]]] = {}
    for row in outbox:
        if _pages(row):
            proxies, ids = pages.setdefault(row.user_id or "", ([], []))
            proxies.append(row.proxy_id or "")
            ids.append(row.id)
    # What a writer whose lock waited would read stale (its statement's snapshot): the config, the
    # posture and instances added since. Changes to existing instances need no mark: the lock
    # statement locks them too, and so reads them as they are now.
    touched = {
        c.before.proxy_id
        for c in changes
        if c.added or c.removed or c.config is not None or c.posture is not None
    }
    parts = {
        "instances": [instance_state(i) for c in changes for i in c.changed],
        "added": [new_instance_row(i) for c in changes for i in c.added],
        "removed": [instance_id for c in changes for instance_id in c.removed],
        "report_keys": [_report_key(c) for c in changes if c.report_key is not None],
        "history": [_history_row(r) for c in changes for r in c.recorded] if record_checks else [],
        "proxies": [_proxy_row(c) for c in changes if _writes_proxy_row(c, touched)],
        "completions": [
            {
                "id": x.event_id,
                "status": x.status.value,
                "error_message": x.error,
                "duration_ms": x.duration_ms,
            }
            for c in changes
            for x in c.closures
            if x.event_id is not None
        ],
        "schedule": [
            {"proxy_id": c.before.proxy_id, "interval": c.config.health_check_interval_seconds}
            for c in changes
            if c.config is not None
        ],
        "versions": [_version_row(c) for c in changes if c.config_version is not None],
        "config": [
            {"proxy_id": c.before.proxy_id, **c.config._asdict()} for c in changes if c.config is not None
        ],
        "events": [_event_row(e, c.before.owner_id) for c in changes for e in c.events],
        "closures": [
            {
                "instance_id": x.recovery_of,
                "status": x.status.value,
                "error_message": x.error,
                "completed_at": now,
            }
            for c in changes
            for x in c.closures
            if x.recovery_of is not None
        ],
        "redundancy": [_posture_row(c) for c in changes if c.posture is not None],
        "outbox": [o._asdict() for o in outbox],
        "metrics": [
            sample_row(instance_id, now, sample) for c in changes for instance_id, sample in c.metrics
        ],
    }
    names = tuple(name for name, (recordset_of, _) in _PARTS.items() if parts[recordset_of])
    if not names:
        if guard is not None:  # what was decided on memory holds only if the memory did
            con.run(guard[0], commit=True, **guard[1])
        return Written([], None, set())  # else the transaction's COMMIT goes on its own
    own_rows = {c.before.proxy_id for c in changes if _writes_proxy_row(c, touched)}
    grace = float(outbox_grace_seconds)
    written = {name: recordset(rows) for name, rows in parts.items() if rows}
    statement = _statement(names)
    if not pages:
        ((xid,),) = con.run(statement, commit=True, guard=guard, **written, now=now, grace=grace)
        return Written(outbox, xid, own_rows)
    ((xid,),), decided = con.run_then(
        statement,
        dict(written, now=now, grace=grace),
        _STORMS,
        {
            "pages": recordset(
                [
                    {"owner_id": owner, "proxy_ids": sorted(set(proxies)), "outbox_ids": ids}
                    for owner, (proxies, ids) in sorted(pages.items())
                ]
            ),
            "now": now,
            "threshold": storm_threshold,
            "grace": grace,
        },
        guard=guard,
    )
    return Written(_as_decided(outbox, decided), xid, own_rows)


def _as_decided(outbox: list[OutboxRow], decided: list[list[Any]] | None) -> list[OutboxRow]:
    """The write's notifications with what the storm decision changed (fleet_incident first). Had the
    decision failed (`None`), they go out as written: a page too many, never one too few."""
    if not decided:
        return outbox
    changed = {
        str(i): OutboxRow(str(i), kind, proxy, user, severity, message)
        for i, kind, proxy, user, severity, message, _ in decided
    }
    incidents = [row for i, kind, *_ in decided if kind == "fleet_incident" for row in [changed[str(i)]]]
    return incidents + [changed.get(o.id, o) for o in outbox]


def _writes_proxy_row(c: Change, touched: set[str]) -> bool:
    return (
        c.active_changed
        or c.config is not None
        or c.drill_changed
        or c.route_changed
        or c.before.proxy_id in touched
    )


def _pages(row: OutboxRow) -> bool:
    return row.severity == "critical" and row.user_id is not None and row.message.get("drill") is not True


def _proxy_row(c: Change) -> dict[str, Any]:
    drill = c.drill
    return {
        "proxy_id": c.before.proxy_id,
        "set_active": c.active_changed,
        "active_instance_id": c.active_instance_id,
        "interval": None if c.config is None else c.config.health_check_interval_seconds,
        "set_drill": c.drill_changed,
        "drill_event_id": drill.event_id if drill else None,
        "drill_until": drill.until if drill else None,
        "drill_return_to": drill.return_to if drill else None,
        "set_route": c.route_changed,
        "route": None if c.route is None else stored_route(c.route),
        "route_version": c.route_version,
        "route_ramp_until": ramp_ends(c.route),
    }


def stored_route(route: RouteAnswer) -> dict[str, Any]:
    """The answer as stored with the proxy: as GET route returns it, its version apart."""
    found = route_json(route, 0)
    del found["version"]
    return found


def _report_key(c: Change) -> dict[str, Any]:
    assert c.report_key is not None
    instance_id, key = c.report_key
    answer = listed_json(Listed(c.instance(instance_id), instance_id == c.active_instance_id))
    return {"instance_id": instance_id, "key": key, "response": answer}


def _history_row(r: Recorded) -> dict[str, Any]:
    return {
        "instance_id": r.instance_id,
        "source_key": r.vantage or "",
        "slot": r.slot,
        "checked_at": r.checked_at,
        "result": r.result.value,
        "latency_ms": r.latency_ms,
        "reason": r.reason,
    }


def _version_row(c: Change) -> dict[str, Any]:
    version = c.config_version
    assert version is not None
    return {
        "proxy_id": c.before.proxy_id,
        "config": version.config,
        "changes": version.changes,
        "changed_by": version.changed_by,
    }


def _event_row(e: LedgerEvent, owner_id: str) -> dict[str, Any]:
    row = e._asdict()
    del row["error_message"]  # never set at creation
    row["owner_id"] = owner_id  # the fleet ledger's tenancy, kept past the proxy's decommission
    return row


def _posture_row(c: Change) -> dict[str, Any]:
    r = c.posture
    assert r is not None
    return {
        "proxy_id": c.before.proxy_id,
        "total_instances": r.total_instances,
        "healthy_instances": r.healthy_instances,
        "unhealthy_instances": r.unhealthy_instances,
        "active_instance_id": r.active_instance_id,
        "backup_instance_ids": list(r.backup_instance_ids),
        "redundancy_level": r.redundancy_level,
        "is_degraded": r.is_degraded,
        "degraded_reasons": list(r.degraded_reasons),
        "last_failover_at": c.now if c.switch else None,
        "last_failover_reason": c.switch.reason if c.switch else None,
    }
