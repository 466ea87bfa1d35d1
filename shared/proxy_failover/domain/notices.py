"""What is worth telling subscribers about a plan: switches, instance state changes, posture changes.
Pure: the engine turns these into outbox rows."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from .models import EventType, HealthStatus, Instance, Redundancy, RouteAnswer, Switch, Transition


class NoticeType(StrEnum):
    """The `type` of every notification (docs/notifications.md describes each)."""

    FAILOVER = "failover"
    FAILBACK = "failback"
    MANUAL_FAILOVER = "manual_failover"
    INSTANCE_UNHEALTHY = "instance_unhealthy"
    INSTANCE_HEALTHY = "instance_healthy"
    INSTANCE_FLAPPING = "instance_flapping"
    PROXY_DEGRADED = "proxy_degraded"
    PROXY_RESTORED = "proxy_restored"
    RECOVERY_NEEDED = "recovery_needed"
    MANUAL_ATTENTION_REQUIRED = "manual_attention_required"
    MAINTENANCE_STARTED = "maintenance_started"
    MAINTENANCE_ENDED = "maintenance_ended"
    MAINTENANCE_FAILOVER = "maintenance_failover"
    DRILL_FAILED = "drill_failed"
    FLEET_INCIDENT = "fleet_incident"
    # fleet-wide: about the checkers and the brake, of no proxy and no owner
    VANTAGE_IMPAIRED = "vantage_impaired"
    VANTAGE_RESTORED = "vantage_restored"
    CHECKS_SUSPENDED = "checks_suspended"
    CHECKS_RESUMED = "checks_resumed"
    AUTO_FAILOVER_HELD = "auto_failover_held"
    AUTO_FAILOVER_RELEASED = "auto_failover_released"
    PROXY_REMOVED = "proxy_removed"
    ROUTE_CHANGED = "route_changed"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Notice(NamedTuple):
    """A notification to publish; `details` go into the SNS message next to id/type/proxyId/..."""

    type: NoticeType
    severity: Severity
    details: dict[str, Any]
    # The incident it belongs to (None: a notification of its own, correlated with nothing else).
    correlation_id: str | None = None
    drill: bool = False  # about a drill: pagers may ignore it (message field and attribute `drill`)


# A switch's notification, by the kind of switch.
SWITCH_NOTICES = {
    EventType.FAILOVER: (NoticeType.FAILOVER, Severity.CRITICAL),
    EventType.FAILBACK: (NoticeType.FAILBACK, Severity.INFO),
    EventType.MANUAL: (NoticeType.MANUAL_FAILOVER, Severity.WARNING),
    EventType.MAINTENANCE: (NoticeType.MAINTENANCE_FAILOVER, Severity.INFO),
    # A drill rehearses a failover: subscribers see exactly what a real one sends, marked `drill`.
    EventType.DRILL: (NoticeType.FAILOVER, Severity.CRITICAL),
}
SWITCH_NOTICE_TYPES = frozenset(kind for kind, _ in SWITCH_NOTICES.values())


def switch_notice(switch: Switch, by_id: dict[str, Instance], *, drill: bool = False) -> Notice:
    """A failover belongs to the incident of the instance it leaves, a failback to the incident of the
    instance it returns to."""
    kind, severity = SWITCH_NOTICES[switch.event_type]
    source = by_id.get(switch.source_instance_id or "")
    target = by_id.get(switch.target_instance_id)
    incident = None
    if switch.event_type is EventType.FAILOVER and source is not None:
        incident = source.incident_id
    elif switch.event_type is EventType.FAILBACK and target is not None:
        incident = target.incident_id
    return Notice(
        kind,
        severity,
        {
            "sourceInstanceId": switch.source_instance_id,
            "sourceInstanceName": source.name if source else None,
            "targetInstanceId": switch.target_instance_id,
            "targetInstanceName": target.name if target else None,
            "reason": switch.reason,
        },
        incident,
        drill or switch.event_type is EventType.DRILL,
    )


def transition_notices(
    proxy_active: str | None, by_id: dict[str, Instance], transitions: Sequence[Transition]
) -> list[Notice]:
    """An instance turning unhealthy (critical when it carries the traffic) or healthy again; one
    notice when it starts flapping and none while it flaps; none for an instance in maintenance."""
    notices = []
    for t in transitions:
        instance = by_id.get(t.instance_id)
        if instance is None or instance.in_maintenance:  # somebody is working on it: no alerts
            continue
        base = {
            "instanceId": t.instance_id,
            "instanceName": instance.name,
            "previousStatus": t.previous.value,
        }
        if t.reason is not None:
            base["reason"] = t.reason
        incident = instance.incident_id
        if t.started_flapping:
            notices.append(Notice(NoticeType.INSTANCE_FLAPPING, Severity.WARNING, base, incident))
            continue
        if instance.is_flapping:
            continue
        if t.current is HealthStatus.UNHEALTHY:
            severity = Severity.CRITICAL if t.instance_id == proxy_active else Severity.WARNING
            notices.append(Notice(NoticeType.INSTANCE_UNHEALTHY, severity, base, incident))
        elif t.current is HealthStatus.HEALTHY and t.previous is HealthStatus.UNHEALTHY:
            notices.append(Notice(NoticeType.INSTANCE_HEALTHY, Severity.INFO, base, incident))
    return notices


def posture_notices(
    previous: Redundancy | None, current: Redundancy, *, incident: str | None = None
) -> list[Notice]:
    """Degraded and restored, on the transition only; `incident`: the one that caused the change."""
    if previous is None or previous.is_degraded == current.is_degraded:
        return []
    if current.is_degraded:
        reasons = {"reasons": list(current.degraded_reasons)}
        return [Notice(NoticeType.PROXY_DEGRADED, Severity.CRITICAL, reasons, incident)]
    previous_reasons = {"previousReasons": list(previous.degraded_reasons)}
    return [Notice(NoticeType.PROXY_RESTORED, Severity.INFO, previous_reasons, incident)]


def maintenance_notices(started: Sequence[Instance], ended: Sequence[Instance]) -> list[Notice]:
    notices = []
    for instance in started:
        assert instance.maintenance is not None
        details = {
            "instanceId": instance.id,
            "instanceName": instance.name,
            "until": instance.maintenance.until.isoformat(),
            "reason": instance.maintenance.reason,
            "startedBy": instance.maintenance.started_by,
        }
        notices.append(Notice(NoticeType.MAINTENANCE_STARTED, Severity.INFO, details))
    for instance in ended:
        notices.append(
            Notice(
                NoticeType.MAINTENANCE_ENDED,
                Severity.INFO,
                {"instanceId": instance.id, "instanceName": instance.name},
            )
        )
    return notices


def removed_notice(removed_by: str, instance_ids: list[str], *, forced: bool) -> Notice:
    """A proxy decommissioned: its instances went with it (`forced`: it still had some)."""
    details = {"removedBy": removed_by, "instanceIds": instance_ids, "forced": forced}
    return Notice(NoticeType.PROXY_REMOVED, Severity.INFO, details)


def route_notice(route: RouteAnswer | None, proxy_id: str, version: int) -> Notice:
    """The routing answer after a change, as GET route answers it, with its ETag and version (the
    data plane's feed); `route` null: the proxy has no instance left to route to (GET route: 404)."""
    from ..etags import entity_tag
    from .routing import route_json

    view = None if route is None else route_json(route, version)
    details = {"route": view, "etag": None if view is None else entity_tag(view), "version": version}
    return Notice(NoticeType.ROUTE_CHANGED, Severity.INFO, details)
