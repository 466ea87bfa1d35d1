"""Mapping between database rows and domain values."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..domain.models import (
    FailoverConfig,
    HealthStatus,
    Instance,
    LoadBalancingAlgorithm,
    Redundancy,
    Strategy,
)

CONFIG_COLUMNS = (
    "failover_strategy",
    "health_check_interval_seconds",
    "health_check_timeout_seconds",
    "unhealthy_threshold",
    "healthy_threshold",
    "max_recovery_attempts",
    "recovery_backoff_seconds",
    "enable_auto_failover",
    "enable_auto_recovery",
    "enable_load_balancing",
    "load_balancing_algorithm",
    "failback_hold_down_seconds",
    "flap_threshold",
    "flap_window_seconds",
)
# Selected with a `cfg_` prefix next to proxy columns; NULL when the proxy has no stored config.
CONFIG_SELECT = ", ".join(f"c.{name} AS cfg_{name}" for name in CONFIG_COLUMNS)

INSTANCE_COLUMNS = (
    "id, proxy_id, instance_name, instance_type, priority, weight, health_check_url, health_status,"
    " consecutive_failures, consecutive_successes, last_health_check, last_status_change, last_latency_ms,"
    " connection_count, status_changes, is_flapping, recovery_attempts, next_recovery_at, needs_attention,"
    " created_at, updated_at"
)


def config_from_row(row: dict[str, Any], prefix: str = "cfg_") -> FailoverConfig:
    if row.get(prefix + "failover_strategy") is None:
        return FailoverConfig()
    values = {name: row[prefix + name] for name in CONFIG_COLUMNS}
    values["failover_strategy"] = Strategy(values["failover_strategy"])
    values["load_balancing_algorithm"] = LoadBalancingAlgorithm(values["load_balancing_algorithm"])
    return FailoverConfig(**values)


def instance_from_row(row: dict[str, Any]) -> Instance:
    return Instance(
        id=str(row["id"]),
        proxy_id=row["proxy_id"],
        name=row["instance_name"],
        priority=row["priority"],
        weight=row["weight"],
        created_at=row["created_at"],
        health_check_url=row["health_check_url"],
        health_status=HealthStatus(row["health_status"]),
        consecutive_failures=row["consecutive_failures"],
        consecutive_successes=row["consecutive_successes"],
        last_health_check=row["last_health_check"],
        last_status_change=row["last_status_change"],
        connection_count=row["connection_count"],
        last_latency_ms=row["last_latency_ms"],
        status_changes=tuple(row["status_changes"] or ()),
        is_flapping=row["is_flapping"],
        recovery_attempts=row["recovery_attempts"],
        next_recovery_at=row["next_recovery_at"],
        needs_attention=row["needs_attention"],
    )


def redundancy_from_row(row: dict[str, Any], prefix: str = "") -> Redundancy | None:
    if row.get(prefix + "total_instances") is None:
        return None
    return Redundancy(
        total_instances=row[prefix + "total_instances"],
        healthy_instances=row[prefix + "healthy_instances"],
        unhealthy_instances=row[prefix + "unhealthy_instances"],
        active_instance_id=_str(row[prefix + "active_instance_id"]),
        backup_instance_ids=tuple(str(i) for i in row[prefix + "backup_instance_ids"] or ()),
        redundancy_level=row[prefix + "redundancy_level"],
        is_degraded=row[prefix + "is_degraded"],
        degraded_reasons=tuple(row[prefix + "degraded_reasons"] or ()),
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def recordset(rows: Any) -> str:
    """A JSON document for `jsonb_to_recordset(CAST(:rows AS jsonb))`: one parameter per batch."""
    return json.dumps(rows, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def instance_state(instance: Instance) -> dict[str, Any]:
    """The mutable columns of an instance, as one element of a recordset."""
    return {
        "id": instance.id,
        "health_status": instance.health_status.value,
        "consecutive_failures": instance.consecutive_failures,
        "consecutive_successes": instance.consecutive_successes,
        "last_health_check": _iso(instance.last_health_check),
        "last_status_change": _iso(instance.last_status_change),
        "connection_count": instance.connection_count,
        "last_latency_ms": instance.last_latency_ms,
        "status_changes": [_iso(at) for at in instance.status_changes],
        "is_flapping": instance.is_flapping,
        "recovery_attempts": instance.recovery_attempts,
        "next_recovery_at": _iso(instance.next_recovery_at),
        "needs_attention": instance.needs_attention,
    }
