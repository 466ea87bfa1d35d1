"""Typed values -> camelCase JSON, without pydantic on the hot path (its first model build costs
~50 ms of cold start). The documented shapes are `contract/response_bodies.py`'s; a test holds each
view to its schema."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..domain.decisions import Decision
    from ..domain.models import LedgerEvent
    from ..domain.routing import VersionedRoute
    from ..domain.safety import FleetSafety
    from ..store.check_history import CheckRecord
    from ..store.config_versions import ConfigVersion
    from ..store.proxies import ProxySummary, Removed
    from ..store.rows import Listed, StoredConfig, StoredRedundancy

View = dict[str, Any]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def config_view(stored: StoredConfig) -> View:
    view: View = {"proxyId": stored.proxy_id}
    view.update(
        (_camel(name), getattr(value, "value", value)) for name, value in stored.config._asdict().items()
    )
    view["createdAt"] = _time(stored.created_at)
    view["updatedAt"] = _time(stored.updated_at)
    return view


def instance_view(listed: Listed) -> View:
    i = listed.instance
    return {
        "id": i.id,
        "proxyId": i.proxy_id,
        "instanceName": i.name,
        "instanceType": i.instance_type,
        "priority": i.priority,
        "weight": i.weight,
        "healthCheckUrl": i.health_check_url,
        "healthStatus": i.health_status.value,
        "consecutiveFailures": i.consecutive_failures,
        "consecutiveSuccesses": i.consecutive_successes,
        "lastHealthCheck": _time(i.last_health_check),
        "lastStatusChange": _time(i.last_status_change),
        "lastLatencyMs": i.last_latency_ms,
        "connectionCount": i.connection_count,
        "isActive": listed.is_active,
        "isFlapping": i.is_flapping,
        "recoveryAttempts": i.recovery_attempts,
        "needsAttention": i.needs_attention,
        "createdAt": _time(i.created_at),
        "updatedAt": _time(i.updated_at),
        "endpoint": i.endpoint,
        "probe": None
        if i.probe is None
        else {
            "expectedStatus": i.probe.expected_status,
            "bodyContains": i.probe.body_contains,
            "tlsVerify": i.probe.tls_verify,
        },
        "maintenance": None
        if i.maintenance is None
        else {
            "until": _time(i.maintenance.until),
            "reason": i.maintenance.reason,
            "startedBy": i.maintenance.started_by,
        },
        "vantages": [
            {
                "name": v.vantage,
                "status": v.verdict.value,
                "consecutiveFailures": v.failures,
                "consecutiveSuccesses": v.successes,
                "checkedAt": _time(v.checked_at),
            }
            for v in i.vantages
        ],
    }


def route_view(found: VersionedRoute) -> View:
    from ..domain.routing import route_json

    return route_json(found.route, found.version)


def entity_tag(view: Any) -> str:
    from ..etags import entity_tag as tag

    return tag(view)


def dry_run_view(e: LedgerEvent) -> View:
    """What an execute would have done (the event it would have written)."""
    return {
        "dryRun": True,
        "eventType": e.event_type,
        "sourceInstanceId": e.source_instance_id,
        "targetInstanceId": e.target_instance_id,
    }


def config_version_view(v: ConfigVersion) -> View:
    """Stored with the configuration's own field names; shown in the API's."""
    return {
        "version": v.version,
        "config": {_camel(name): value for name, value in v.config.items()},
        "changes": {_camel(name): change for name, change in v.changes.items()},
        "changedBy": v.changed_by,
        "changedAt": _time(v.changed_at),
    }


def event_view(e: LedgerEvent) -> View:
    return {
        "id": e.id,
        "proxyId": e.proxy_id,
        "eventType": e.event_type,
        "status": e.status,
        "sourceInstanceId": e.source_instance_id,
        "targetInstanceId": e.target_instance_id,
        "reason": e.reason,
        "actor": e.actor,
        "errorMessage": e.error_message,
        "durationMs": e.duration_ms,
        "startedAt": _time(e.started_at),
        "completedAt": _time(e.completed_at),
    }


def redundancy_view(stored: StoredRedundancy) -> View:
    r = stored.redundancy
    return {
        "proxyId": stored.proxy_id,
        "totalInstances": r.total_instances,
        "healthyInstances": r.healthy_instances,
        "unhealthyInstances": r.unhealthy_instances,
        "activeInstanceId": r.active_instance_id,
        "backupInstanceIds": list(r.backup_instance_ids),
        "redundancyLevel": r.redundancy_level,
        "isDegraded": r.is_degraded,
        "degradedReasons": list(r.degraded_reasons),
        "lastFailoverAt": _time(stored.last_failover_at),
        "lastFailoverReason": stored.last_failover_reason,
        "updatedAt": _time(stored.updated_at),
    }


def decision_view(proxy_id: str, decision: Decision) -> View:
    return {
        "proxyId": proxy_id,
        "shouldFailover": decision.should_failover,
        "reason": decision.reason.value,
        "activeInstanceId": decision.active_instance_id,
        "sourceInstanceId": decision.source_instance_id,
        "targetInstanceId": decision.target_instance_id,
        "strategy": None if decision.strategy is None else decision.strategy.value,
    }


def safety_view(found: FleetSafety) -> View:
    state = found.state
    return {
        "autoFailover": state.auto_failover.value,
        "reason": state.reason,
        "changedBy": state.changed_by,
        "changedAt": _time(state.changed_at),
        "checksSuspended": state.checks_suspended,
        "vantages": [
            {
                "name": v.state.name,
                "lastRunAt": _time(v.state.last_run_at),
                "impaired": v.state.impaired,
                "absent": v.absent,
            }
            for v in found.vantages
        ],
    }


def proxy_summary_view(s: ProxySummary) -> View:
    return {
        "proxyId": s.proxy_id,
        "userId": s.owner_id,
        "activeInstanceId": s.active_instance_id,
        "activeInstanceName": s.active_instance_name,
        "totalInstances": s.total_instances,
        "healthyInstances": s.healthy_instances,
        "instancesInMaintenance": s.instances_in_maintenance,
        "isDegraded": s.is_degraded,
        "degradedReasons": s.degraded_reasons,
        "redundancyLevel": s.redundancy_level,
        "strategy": s.strategy,
        "lastFailoverAt": _time(s.last_failover_at),
        "lastFailoverReason": s.last_failover_reason,
    }


def removed_view(r: Removed) -> View:
    return {
        "proxyId": r.proxy_id,
        "userId": r.owner_id,
        "removedInstanceIds": r.instance_ids,
        "removedConfig": r.had_config,
        "keptEvents": r.kept_events,
        "keptConfigVersions": r.kept_config_versions,
    }


def check_view(c: CheckRecord) -> View:
    return {
        "checkedAt": _time(c.checked_at),
        "source": "report" if c.vantage is None else "probe",
        "vantage": c.vantage,
        "result": c.result,
        "latencyMs": c.latency_ms,
        "reason": c.reason,
    }
