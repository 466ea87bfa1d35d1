"""The redundancy posture of a proxy, always recomputed from its instances."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from .models import HealthStatus, Instance, Redundancy, Strategy
from .strategies import failover_order


class RedundancyLevel(StrEnum):
    NONE = "none"
    SINGLE = "single"
    DUAL = "dual"
    MULTI = "multi"


class DegradedReason(StrEnum):
    """Why a proxy is degraded (`degradedReasons`)."""

    FEWER_THAN_HALF_HEALTHY = "fewer_than_half_healthy"
    NO_ACTIVE_INSTANCE = "no_active_instance"
    ACTIVE_IN_MAINTENANCE = "active_in_maintenance"
    ACTIVE_UNHEALTHY = "active_unhealthy"
    NO_HEALTHY_BACKUP = "no_healthy_backup"


def level_for(total: int) -> RedundancyLevel:
    if total <= 0:
        return RedundancyLevel.NONE
    return {1: RedundancyLevel.SINGLE, 2: RedundancyLevel.DUAL}.get(total, RedundancyLevel.MULTI)


def assess(instances: Sequence[Instance], active_id: str | None, strategy: Strategy) -> Redundancy:
    total = len(instances)
    healthy = sum(1 for i in instances if i.health_status is HealthStatus.HEALTHY)
    unhealthy = sum(1 for i in instances if i.health_status is HealthStatus.UNHEALTHY)
    backups = tuple(i.id for i in failover_order(instances, active_id, strategy))
    active = next((i for i in instances if i.id == active_id), None)

    # An instance in maintenance is no cause of degradation: the posture is judged without it (and a
    # backup that is only away for maintenance is not missing).
    considered = [i for i in instances if not i.in_maintenance]
    considered_healthy = sum(1 for i in considered if i.health_status is HealthStatus.HEALTHY)
    away = any(i.in_maintenance for i in instances if i.id != active_id)
    reasons: list[str] = []
    if considered and considered_healthy < len(considered) / 2:
        reasons.append(DegradedReason.FEWER_THAN_HALF_HEALTHY)
    if active is None and total:
        reasons.append(DegradedReason.NO_ACTIVE_INSTANCE)
    if active is not None and active.in_maintenance:
        reasons.append(DegradedReason.ACTIVE_IN_MAINTENANCE)
    elif active is not None and active.health_status is HealthStatus.UNHEALTHY:
        reasons.append(DegradedReason.ACTIVE_UNHEALTHY)
    if total and not backups and not away:
        reasons.append(DegradedReason.NO_HEALTHY_BACKUP)
    return Redundancy(
        total_instances=total,
        healthy_instances=healthy,
        unhealthy_instances=unhealthy,
        active_instance_id=active_id if active is not None else None,
        backup_instance_ids=backups,
        redundancy_level=level_for(total),
        is_degraded=bool(reasons),
        degraded_reasons=tuple(reasons),
    )
