"""Rows -> camelCase JSON, without pydantic on the hot path (its first model build costs ~50 ms of
cold start). The shapes are documented by `schemas.py`; a test holds each view to its schema."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..store.rows import CONFIG_COLUMNS

if TYPE_CHECKING:
    from ..domain.decisions import Decision

View = dict[str, Any]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def config_view(row: dict[str, Any]) -> View:
    view: View = {"proxyId": row["proxy_id"]}
    view.update({_camel(c): row[c] for c in CONFIG_COLUMNS})
    view["createdAt"] = _time(row["created_at"])
    view["updatedAt"] = _time(row["updated_at"])
    return view


def instance_view(row: dict[str, Any]) -> View:
    return {
        "id": str(row["id"]),
        "proxyId": row["proxy_id"],
        "instanceName": row["instance_name"],
        "instanceType": row["instance_type"],
        "priority": row["priority"],
        "weight": row["weight"],
        "healthCheckUrl": row["health_check_url"],
        "healthStatus": row["health_status"],
        "consecutiveFailures": row["consecutive_failures"],
        "consecutiveSuccesses": row["consecutive_successes"],
        "lastHealthCheck": _time(row["last_health_check"]),
        "lastStatusChange": _time(row["last_status_change"]),
        "lastLatencyMs": row.get("last_latency_ms"),
        "connectionCount": row["connection_count"],
        "isActive": bool(row["is_active"]),
        "isFlapping": row["is_flapping"],
        "recoveryAttempts": row["recovery_attempts"],
        "needsAttention": row["needs_attention"],
        "createdAt": _time(row["created_at"]),
        "updatedAt": _time(row["updated_at"]),
    }


def event_view(row: dict[str, Any]) -> View:
    return {
        "id": str(row["id"]),
        "proxyId": row["proxy_id"],
        "eventType": row["event_type"],
        "status": row["status"],
        "sourceInstanceId": _id(row["source_instance_id"]),
        "targetInstanceId": _id(row["target_instance_id"]),
        "reason": row["reason"],
        "actor": row["actor"],
        "errorMessage": row["error_message"],
        "durationMs": row["duration_ms"],
        "startedAt": _time(row["started_at"]),
        "completedAt": _time(row["completed_at"]),
    }


def redundancy_view(row: dict[str, Any]) -> View:
    return {
        "proxyId": row["proxy_id"],
        "totalInstances": row["total_instances"],
        "healthyInstances": row["healthy_instances"],
        "unhealthyInstances": row["unhealthy_instances"],
        "activeInstanceId": _id(row["active_instance_id"]),
        "backupInstanceIds": [str(i) for i in row["backup_instance_ids"] or ()],
        "redundancyLevel": row["redundancy_level"],
        "isDegraded": row["is_degraded"],
        "degradedReasons": list(row["degraded_reasons"] or ()),
        "lastFailoverAt": _time(row["last_failover_at"]),
        "lastFailoverReason": row["last_failover_reason"],
        "updatedAt": _time(row["updated_at"]),
    }


def decision_view(proxy_id: str, decision: Decision) -> View:
    return {
        "proxyId": proxy_id,
        "shouldFailover": decision.should_failover,
        "reason": decision.reason,
        "activeInstanceId": decision.active_instance_id,
        "sourceInstanceId": decision.source_instance_id,
        "targetInstanceId": decision.target_instance_id,
        "strategy": None if decision.strategy is None else decision.strategy.value,
    }
