"""The common health report in one statement: a check result that moves an instance's counters but
not its status, applied and answered in one round trip. Anything else falls through to the engine."""

from __future__ import annotations

from datetime import datetime

from ..domain.health import Judged
from ..domain.models import CHECK_HISTORY, HealthStatus, MetricsSample
from ..identity import Principal
from . import remembered
from .db import Connection
from .metrics import METRICS_INSERT, sample_row
from .rows import INSTANCE_NAMES, Listed, config_or_default, instance_from_row, recordset
from .tenancy import VISIBLE as _VISIBLE
from .tenancy import visible_to

# The check changes counters but not the status. The WHERE clause is the state machine's "status
# unchanged" condition (domain.health.status_after), re-checked by PostgreSQL on the locked row;
# anything else falls through to the engine. Flapping instances, and connection counts that order a
# least-connections proxy's backups or move its routing shares, always take the engine's path (which
# decides whether the routing answer moved).
_REPORT_FAST = f"""
WITH target AS (
    SELECT i.id, p.active_instance_id,
           {config_or_default("unhealthy_threshold")} AS fall, {config_or_default("healthy_threshold")} AS rise,
           {config_or_default("failover_strategy")} AS strategy,
           {config_or_default("enable_load_balancing")} AND {config_or_default("load_balancing_algorithm")}
               = 'least_connections' AS shares_by_connections
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
        reports_recorded = i.reports_recorded + 1,
        updated_at = CAST(:now AS timestamptz)
      FROM target t
     WHERE i.id = t.id
       AND NOT i.is_flapping
       AND (CAST(:connections AS integer) IS NULL
            OR (t.strategy <> 'least_connections' AND NOT t.shares_by_connections))
       AND CASE CAST(:result AS text)
            WHEN 'unhealthy' THEN i.health_status = 'unhealthy' OR i.consecutive_failures + 1 < t.fall
            WHEN 'healthy' THEN i.health_status = 'healthy'
                 OR (i.health_status = 'unhealthy' AND i.consecutive_successes + 1 < t.rise)
            ELSE true END
    RETURNING {", ".join(f"i.{c} AS i_{c}" for c in INSTANCE_NAMES)}, CAST(CAST(i.xmin AS text) AS bigint) AS i_version,
              t.active_instance_id,
              t.fall, t.rise, t.strategy = 'least_connections' OR t.shares_by_connections AS by_connections
), stored_metrics AS ({METRICS_INSERT} WHERE EXISTS (SELECT 1 FROM updated))
, history AS (
    -- the report's place in the instance's check history (the ring of its reports)
    INSERT INTO check_results AS h (instance_id, source_key, slot, checked_at, result, latency_ms)
    SELECT u.i_id, '', (u.i_reports_recorded - 1) % {CHECK_HISTORY}, CAST(:now AS timestamptz),
           CAST(:result AS text), CAST(:latency AS float8)
      FROM updated u
     WHERE CAST(:record AS boolean)
    ON CONFLICT (instance_id, source_key, slot) DO UPDATE SET
        checked_at = EXCLUDED.checked_at, result = EXCLUDED.result, latency_ms = EXCLUDED.latency_ms,
        reason = NULL
)
SELECT (SELECT count(*) FROM target) AS found, u.*
  FROM (SELECT 1) AS one LEFT JOIN updated u ON true
"""


def report_fast(
    con: Connection,
    instance_id: str,
    principal: Principal,
    result: HealthStatus,
    now: datetime,
    metrics: MetricsSample | None,
    *,
    record_checks: bool = True,
) -> tuple[bool, Listed | None, Judged | None]:
    """(found, instance, judged): the instance after the report and what judged it when this path
    applied, else None."""
    row = con.one(
        _REPORT_FAST,
        id=instance_id,
        **visible_to(principal),
        result=result.value,
        now=now,
        connections=None if metrics is None else metrics.connection_count,
        latency=None if metrics is None else metrics.average_latency_ms,
        record=record_checks,
        metrics=recordset([sample_row(instance_id, now, metrics)] if metrics else []),
    )
    assert row is not None
    if not row["found"]:
        return False, None, None
    if row["i_id"] is None:
        return True, None, None
    listed = Listed(instance_from_row(row, prefix="i_"), row["active_instance_id"] == row["i_id"])
    remembered.reported(listed.instance, row["i_version"])
    return True, listed, Judged(row["fall"], row["rise"], row["by_connections"])
