"""The rise/fall health state machine (as HAProxy and ELB do it), fed by check results from any source."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from .models import FailoverConfig, HealthStatus, Instance, Transition


def status_after(instance: Instance, result: HealthStatus, config: FailoverConfig) -> HealthStatus:
    """The status one more check result leads to, without the bookkeeping of `apply_check`."""
    if result is HealthStatus.UNHEALTHY:
        reached = instance.consecutive_failures + 1 >= config.unhealthy_threshold
        return HealthStatus.UNHEALTHY if reached else instance.health_status
    if result is HealthStatus.HEALTHY:
        if instance.health_status is HealthStatus.UNHEALTHY:
            reached = instance.consecutive_successes + 1 >= config.healthy_threshold
            return HealthStatus.HEALTHY if reached else HealthStatus.UNHEALTHY
        return HealthStatus.HEALTHY
    return instance.health_status


def flapping(changes: tuple[datetime, ...], config: FailoverConfig, now: datetime) -> bool:
    window_start = now - timedelta(seconds=config.flap_window_seconds)
    return sum(1 for at in changes if at > window_start) >= config.flap_threshold


def apply_check(
    instance: Instance,
    result: HealthStatus,
    config: FailoverConfig,
    now: datetime,
    *,
    connection_count: int | None = None,
    reason: str | None = None,
    real: bool = True,
) -> tuple[Instance, Transition | None]:
    """Feed one check result through the state machine; returns the new instance and its transition.
    `real` is False for a check the service made up (a report time-to-live that expired): it counts as
    a result, but not as a sign of life (`last_result_at` stays)."""
    if result is HealthStatus.UNHEALTHY:
        failures, successes = instance.consecutive_failures + 1, 0
    elif result is HealthStatus.HEALTHY:
        failures, successes = 0, instance.consecutive_successes + 1
    else:
        failures, successes = instance.consecutive_failures, instance.consecutive_successes

    new_status = status_after(instance, result, config)
    window_start = now - timedelta(seconds=config.flap_window_seconds)
    changes = tuple(at for at in instance.status_changes if at > window_start)
    transition = None
    changed = new_status is not instance.health_status
    # unknown -> healthy is the first sighting, not a flap.
    counts_as_flap = changed and instance.health_status is not HealthStatus.UNKNOWN
    if counts_as_flap:
        changes = (*changes, now)
    # Only the latest `flap_threshold` changes can decide flapping: older ones are not kept, so the
    # history read and written by every check stays small.
    changes = changes[-config.flap_threshold :]
    was_flapping = instance.is_flapping
    is_flapping = flapping(changes, config, now)
    if changed:
        transition = Transition(
            instance_id=instance.id,
            previous=instance.health_status,
            current=new_status,
            at=now,
            started_flapping=is_flapping and not was_flapping,
            reason=reason,
        )

    updated = instance._replace(
        health_status=new_status,
        consecutive_failures=failures,
        consecutive_successes=successes,
        last_health_check=now,
        last_result_at=now if real else instance.last_result_at,
        last_status_change=now if changed else instance.last_status_change,
        connection_count=connection_count if connection_count is not None else instance.connection_count,
        status_changes=changes,
        is_flapping=is_flapping,
        incident_id=incident_id(instance.id, now)
        if changed and new_status is HealthStatus.UNHEALTHY
        else instance.incident_id,
    )
    return updated, transition


def incident_id(instance_id: str, opened_at: datetime) -> str:
    """The id of the incident an instance opens by turning unhealthy at `opened_at`: derived, so the
    domain stays pure and a replay of the same history names the same incident."""
    return str(uuid.uuid5(_INCIDENTS, f"{instance_id}@{opened_at.isoformat()}"))


_INCIDENTS = uuid.UUID("6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f")
