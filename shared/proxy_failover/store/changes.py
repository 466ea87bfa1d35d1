"""Writing reconcile plans: a handful of batched statements for any number of proxies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from ..domain.models import EventStatus, Instance
from .db import Connection
from .rows import instance_state, recordset


class EventRow(NamedTuple):
    id: str
    proxy_id: str
    event_type: str
    status: str
    source_instance_id: str | None
    target_instance_id: str | None
    reason: str
    actor: str
    started_at: datetime
    completed_at: datetime | None = None
    duration_ms: int | None = None
    error_message: str | None = None

    def as_row(self) -> dict[str, Any]:
        """The event as the ledger's SELECT returns it."""
        return {
            "id": self.id,
            "proxy_id": self.proxy_id,
            "event_type": self.event_type,
            "status": self.status,
            "source_instance_id": self.source_instance_id,
            "target_instance_id": self.target_instance_id,
            "reason": self.reason,
            "actor": self.actor,
            "error_message": self.error_message,
            "duration_ms": self.duration_ms,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


class OutboxRow(NamedTuple):
    id: str
    type: str
    proxy_id: str
    user_id: str | None
    severity: str
    message: dict[str, Any]


class ProxyWrite(NamedTuple):
    """Everything one proxy's plan changes, ready for the batched statements below."""

    proxy_id: str
    instances: list[Instance]  # changed instances only
    active_instance_id: str | None
    active_changed: bool
    redundancy: dict[str, Any] | None
    recovery_closures: list[dict[str, Any]]


# Everything a batch of plans changes, in one statement: each part reads its own recordset (empty
# recordsets change nothing), and data-modifying WITH parts always run to completion. The parts touch
# different rows, so none needs to see another's effect (they share one snapshot). One round trip
# instead of six matters on every write request and every sweep batch.
_WRITE = """
WITH instances AS (
    UPDATE proxy_instances i SET
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
        updated_at = now()
      FROM jsonb_to_recordset(CAST(:instances AS jsonb)) AS r(
          id uuid, health_status text, consecutive_failures integer, consecutive_successes integer,
          last_health_check timestamptz, last_status_change timestamptz, last_latency_ms float8,
          connection_count integer, status_changes timestamptz[], is_flapping boolean,
          recovery_attempts integer, next_recovery_at timestamptz, needs_attention boolean)
     WHERE i.id = r.id
), active AS (
    UPDATE proxies p SET active_instance_id = r.active_instance_id, updated_at = now()
      FROM jsonb_to_recordset(CAST(:active AS jsonb)) AS r(proxy_id text, active_instance_id uuid)
     WHERE p.proxy_id = r.proxy_id
), events AS (
    INSERT INTO proxy_failover_events (id, proxy_id, event_type, status, source_instance_id,
                                       target_instance_id, reason, actor, started_at, completed_at, duration_ms)
    SELECT r.id, r.proxy_id, r.event_type, r.status, r.source_instance_id, r.target_instance_id, r.reason,
           r.actor, r.started_at, r.completed_at, r.duration_ms
      FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS r(
          id uuid, proxy_id text, event_type text, status text, source_instance_id uuid,
          target_instance_id uuid, reason text, actor text, started_at timestamptz, completed_at timestamptz,
          duration_ms integer)
), recoveries AS (
    -- closes recovery cycles opened by earlier transactions (a plan never opens and closes one)
    UPDATE proxy_failover_events e SET
        status = r.status, error_message = r.error_message, completed_at = r.completed_at,
        duration_ms = GREATEST(0, (extract(epoch FROM (r.completed_at - e.started_at)) * 1000)::integer)
      FROM jsonb_to_recordset(CAST(:closures AS jsonb)) AS r(
          instance_id uuid, status text, error_message text, completed_at timestamptz)
     WHERE e.source_instance_id = r.instance_id AND e.event_type = 'recovery' AND e.status = 'in_progress'
), redundancy AS (
    INSERT INTO proxy_redundancy_status AS s (proxy_id, total_instances, healthy_instances,
            unhealthy_instances, active_instance_id, backup_instance_ids, redundancy_level, is_degraded,
            degraded_reasons, last_failover_at, last_failover_reason, updated_at)
    SELECT r.proxy_id, r.total_instances, r.healthy_instances, r.unhealthy_instances, r.active_instance_id,
           r.backup_instance_ids, r.redundancy_level, r.is_degraded, r.degraded_reasons,
           r.last_failover_at, r.last_failover_reason, now()
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
        updated_at = now()
), outbox AS (
    INSERT INTO notification_outbox (id, type, proxy_id, user_id, severity, message, next_attempt_at)
    SELECT r.id, r.type, r.proxy_id, r.user_id, r.severity, r.message,
           now() + make_interval(secs => CAST(:grace AS float8))
      FROM jsonb_to_recordset(CAST(:outbox AS jsonb)) AS r(
          id uuid, type text, proxy_id text, user_id text, severity text, message jsonb)
)
SELECT 1
"""


def write(
    con: Connection,
    writes: list[ProxyWrite],
    events: list[EventRow],
    outbox: list[OutboxRow],
    *,
    outbox_grace_seconds: float,
) -> None:
    """Persist plans for many proxies: one statement, whatever their number (none when nothing changed)."""
    parts = {
        "instances": [instance_state(i) for w in writes for i in w.instances],
        "active": [
            {"proxy_id": w.proxy_id, "active_instance_id": w.active_instance_id}
            for w in writes
            if w.active_changed
        ],
        "events": [_event_dict(e) for e in events],
        "closures": [c for w in writes for c in w.recovery_closures],
        "redundancy": [w.redundancy for w in writes if w.redundancy is not None],
        "outbox": [_outbox_dict(o) for o in outbox],
    }
    if any(parts.values()):
        con.run(
            _WRITE,
            **{name: recordset(rows) for name, rows in parts.items()},
            grace=float(outbox_grace_seconds),
        )


def _event_dict(e: EventRow) -> dict[str, Any]:
    row = e.as_row()
    del row["error_message"]  # never set at creation
    return row


def _outbox_dict(o: OutboxRow) -> dict[str, Any]:
    return {
        "id": o.id,
        "type": o.type,
        "proxy_id": o.proxy_id,
        "user_id": o.user_id,
        "severity": o.severity,
        "message": o.message,
    }


def recovery_closure(
    instance_id: str, status: EventStatus, error: str | None, at: datetime
) -> dict[str, Any]:
    return {"instance_id": instance_id, "status": status.value, "error_message": error, "completed_at": at}
