"""Typed rows: what the store returns (domain values, or the stored records below), and the mapping
between them and PostgreSQL's columns. Nothing outside the store reads a row by column name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ..domain.models import (
    FailoverConfig,
    HealthStatus,
    Instance,
    LedgerEvent,
    LoadBalancingAlgorithm,
    Maintenance,
    ProbeOptions,
    Redundancy,
    Strategy,
    VantageCount,
)

CONFIG_COLUMNS = FailoverConfig._fields
# Selected with a `cfg_` prefix next to proxy columns; NULL when the proxy has no stored config.
CONFIG_SELECT = ", ".join(f"c.{name} AS cfg_{name}" for name in CONFIG_COLUMNS)
_DEFAULTS = FailoverConfig()


def config_or_default(column: str, alias: str = "c") -> str:
    """`COALESCE(c.column, <default>)`: a proxy without a stored config behaves as if it had the
    defaults, and the defaults in SQL are FailoverConfig's own (a test ties the migration's too)."""
    default = getattr(_DEFAULTS, column)
    literal = f"'{default.value}'" if hasattr(default, "value") else str(default).lower()
    return f"COALESCE({alias}.{column}, {literal})"


INSTANCE_COLUMNS = (
    "id, proxy_id, instance_name, instance_type, priority, weight, health_check_url, health_status,"
    " consecutive_failures, consecutive_successes, last_health_check, last_status_change, last_latency_ms,"
    " connection_count, status_changes, is_flapping, recovery_attempts, next_recovery_at, needs_attention,"
    " created_at, updated_at, endpoint, probe, maintenance_until, maintenance_reason, maintenance_started_by,"
    " last_result_at, incident_id, vantage_state, reports_recorded"
)
INSTANCE_NAMES = tuple(c.strip() for c in INSTANCE_COLUMNS.split(","))


# The records below are slotted classes rather than NamedTuples: every read handler imports them, and
# building a NamedTuple class costs a cold start ~2-3 M instructions (its __new__ is compiled from
# source); a plain class costs almost nothing.


class StoredConfig:
    __slots__ = ("config", "created_at", "proxy_id", "updated_at")

    def __init__(
        self, proxy_id: str, config: FailoverConfig, created_at: datetime, updated_at: datetime
    ) -> None:
        self.proxy_id, self.config, self.created_at, self.updated_at = (
            proxy_id,
            config,
            created_at,
            updated_at,
        )


class StoredRedundancy:
    __slots__ = ("last_failover_at", "last_failover_reason", "proxy_id", "redundancy", "updated_at")

    def __init__(
        self,
        proxy_id: str,
        redundancy: Redundancy,
        last_failover_at: datetime | None,
        last_failover_reason: str | None,
        updated_at: datetime,
    ) -> None:
        self.proxy_id, self.redundancy, self.updated_at = proxy_id, redundancy, updated_at
        self.last_failover_at, self.last_failover_reason = last_failover_at, last_failover_reason


EVENT_COLUMNS = ", ".join(f"e.{name}" for name in LedgerEvent._fields)


def event_from_row(row: dict[str, Any]) -> LedgerEvent:
    values = {name: row[name] for name in LedgerEvent._fields}
    for name in ("id", "source_instance_id", "target_instance_id"):
        values[name] = _str(values[name])
    return LedgerEvent(**values)


class Listed:
    """An instance as the API lists it: with whether it is the proxy's active one."""

    __slots__ = ("instance", "is_active")

    def __init__(self, instance: Instance, is_active: bool) -> None:
        self.instance, self.is_active = instance, is_active


def config_from_row(row: dict[str, Any], prefix: str = "cfg_") -> FailoverConfig:
    if row.get(prefix + "failover_strategy") is None:
        return FailoverConfig()
    values = {name: row[prefix + name] for name in CONFIG_COLUMNS}
    values["failover_strategy"] = Strategy(values["failover_strategy"])
    values["load_balancing_algorithm"] = LoadBalancingAlgorithm(values["load_balancing_algorithm"])
    return FailoverConfig(**values)


def instance_from_row(row: dict[str, Any], prefix: str = "") -> Instance:
    def col(name: str) -> Any:
        return row[prefix + name]

    return Instance(
        id=str(col("id")),
        proxy_id=col("proxy_id"),
        name=col("instance_name"),
        priority=col("priority"),
        weight=col("weight"),
        created_at=col("created_at"),
        health_check_url=col("health_check_url"),
        instance_type=col("instance_type"),
        updated_at=col("updated_at"),
        health_status=HealthStatus(col("health_status")),
        consecutive_failures=col("consecutive_failures"),
        consecutive_successes=col("consecutive_successes"),
        last_health_check=col("last_health_check"),
        last_status_change=col("last_status_change"),
        connection_count=col("connection_count"),
        last_latency_ms=col("last_latency_ms"),
        status_changes=tuple(col("status_changes") or ()),
        is_flapping=col("is_flapping"),
        recovery_attempts=col("recovery_attempts"),
        next_recovery_at=col("next_recovery_at"),
        needs_attention=col("needs_attention"),
        endpoint=col("endpoint"),
        probe=None if col("probe") is None else ProbeOptions(**col("probe")),
        maintenance=(
            None
            if col("maintenance_until") is None
            else Maintenance(
                col("maintenance_until"), col("maintenance_reason"), col("maintenance_started_by")
            )
        ),
        last_result_at=col("last_result_at"),
        incident_id=_str(col("incident_id")),
        vantages=vantages_from_json(col("vantage_state")),
        reports_recorded=col("reports_recorded") or 0,
    )


def vantages_from_json(stored: dict[str, Any] | None) -> tuple[VantageCount, ...]:
    """`vantage_state` ({vantage: {failures, successes, verdict, checkedAt, recorded}}) as the domain's counts."""
    return tuple(
        VantageCount(
            name,
            int(v.get("failures", 0)),
            int(v.get("successes", 0)),
            HealthStatus(v.get("verdict", "unknown")),
            None if v.get("checkedAt") is None else datetime.fromisoformat(v["checkedAt"]),
            int(v.get("recorded", 0)),
        )
        for name, v in sorted((stored or {}).items())
    )


def vantages_json(counts: tuple[VantageCount, ...]) -> dict[str, Any]:
    return {
        v.vantage: {
            "failures": v.failures,
            "successes": v.successes,
            "verdict": v.verdict.value,
            "checkedAt": _iso(v.checked_at),
            "recorded": v.recorded,
        }
        for v in counts
    }


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


# An instance's recent status changes go out with every write of it, the same instants write after
# write (up to its flap threshold of them): each is formatted once.
_formatted_changes: dict[datetime, str] = {}


def _history(changes: tuple[datetime, ...]) -> list[str]:
    formatted = []
    for at in changes:
        if at.tzinfo is not UTC:  # an equal instant in another zone prints another offset: not shared
            formatted.append(at.isoformat())
            continue
        text = _formatted_changes.get(at)
        if text is None:
            if len(_formatted_changes) >= 16384:
                _formatted_changes.clear()
            text = _formatted_changes[at] = at.isoformat()
        formatted.append(text)
    return formatted


def recordset(rows: Any) -> str:
    """A JSON document for `jsonb_to_recordset(CAST(:rows AS jsonb))`: one parameter per batch."""
    return _ENCODER.encode(rows)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# One encoder for every recordset (json.dumps with options builds one a call; a write makes several).
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"))


def instance_state(instance: Instance) -> dict[str, Any]:
    """Every column an instance's owner or its checks may change, as one element of a recordset."""
    maintenance = instance.maintenance
    return {
        "id": instance.id,
        "instance_name": instance.name,
        "instance_type": instance.instance_type,
        "priority": instance.priority,
        "weight": instance.weight,
        "health_check_url": instance.health_check_url,
        "endpoint": instance.endpoint,
        "probe": None if instance.probe is None else instance.probe._asdict(),
        "maintenance_until": _iso(maintenance.until) if maintenance else None,
        "maintenance_reason": maintenance.reason if maintenance else None,
        "maintenance_started_by": maintenance.started_by if maintenance else None,
        "last_result_at": _iso(instance.last_result_at),
        "health_status": instance.health_status.value,
        "consecutive_failures": instance.consecutive_failures,
        "consecutive_successes": instance.consecutive_successes,
        "last_health_check": _iso(instance.last_health_check),
        "last_status_change": _iso(instance.last_status_change),
        "connection_count": instance.connection_count,
        "last_latency_ms": instance.last_latency_ms,
        "status_changes": _history(instance.status_changes),
        "is_flapping": instance.is_flapping,
        "recovery_attempts": instance.recovery_attempts,
        "next_recovery_at": _iso(instance.next_recovery_at),
        "needs_attention": instance.needs_attention,
        "incident_id": instance.incident_id,
        "vantage_state": vantages_json(instance.vantages),
        "reports_recorded": instance.reports_recorded,
    }


def new_instance_row(instance: Instance) -> dict[str, Any]:
    """Every column of an instance registered in this transaction."""
    return {
        **instance_state(instance),
        "proxy_id": instance.proxy_id,
        "created_at": _iso(instance.created_at),
    }


def listed_json(listed: Listed) -> dict[str, Any]:
    """An instance as JSON, to be read back by `listed_from_json` (a keyed report's stored answer)."""
    return {
        **new_instance_row(listed.instance),
        "updated_at": _iso(listed.instance.updated_at),
        "is_active": listed.is_active,
    }


def listed_from_json(stored: dict[str, Any]) -> Listed:
    times = (
        "created_at",
        "updated_at",
        "last_health_check",
        "last_status_change",
        "next_recovery_at",
        "maintenance_until",
        "last_result_at",
    )
    row = {
        **dict.fromkeys(INSTANCE_NAMES),  # columns added after the answer was stored
        **stored,
        **{k: None if stored.get(k) is None else datetime.fromisoformat(stored[k]) for k in times},
    }
    row["status_changes"] = [datetime.fromisoformat(at) for at in stored.get("status_changes") or ()]
    return Listed(instance_from_row(row), bool(stored["is_active"]))
