"""The rise/fall health state machine (as HAProxy and ELB do it), fed by check results from any source."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from .models import (
    FailoverConfig,
    HealthStatus,
    Instance,
    LoadBalancingAlgorithm,
    Strategy,
    Transition,
    VantageCount,
)


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


class Judged:
    """What decides whether a report moves an instance's status, besides the instance: its proxy's
    thresholds, and whether a reported connection count can move its routing (least connections)."""

    __slots__ = ("by_connections", "healthy_threshold", "unhealthy_threshold")

    def __init__(self, unhealthy_threshold: int, healthy_threshold: int, by_connections: bool) -> None:
        self.unhealthy_threshold, self.healthy_threshold = unhealthy_threshold, healthy_threshold
        self.by_connections = by_connections

    @classmethod
    def of(cls, config: FailoverConfig) -> Judged:
        by_connections = config.failover_strategy == Strategy.LEAST_CONNECTIONS or (
            config.enable_load_balancing
            and config.load_balancing_algorithm == LoadBalancingAlgorithm.LEAST_CONNECTIONS
        )
        return cls(config.unhealthy_threshold, config.healthy_threshold, by_connections)


def report_settles(instance: Instance, result: HealthStatus, judged: Judged, *, connections: bool) -> bool:
    """Whether a report leaves everything but the instance's counters as it is: the condition under
    which a report is one statement (store.report states the same in SQL). False for a flapping
    instance, and for a connection count that orders backups or moves routing shares."""
    if instance.is_flapping or (connections and judged.by_connections):
        return False
    if result is HealthStatus.UNHEALTHY:
        return (
            instance.health_status is HealthStatus.UNHEALTHY
            or instance.consecutive_failures + 1 < judged.unhealthy_threshold
        )
    if result is HealthStatus.HEALTHY:
        return instance.health_status is HealthStatus.HEALTHY or (
            instance.health_status is HealthStatus.UNHEALTHY
            and instance.consecutive_successes + 1 < judged.healthy_threshold
        )
    return True


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
    failures, successes = counted(instance.consecutive_failures, instance.consecutive_successes, result)
    return _settled(
        instance,
        status_after(instance, result, config),
        failures,
        successes,
        config,
        now,
        connection_count=connection_count,
        reason=reason,
        real=real,
    )


def counted(failures: int, successes: int, result: HealthStatus) -> tuple[int, int]:
    """The consecutive counters after one more result."""
    if result is HealthStatus.UNHEALTHY:
        return failures + 1, 0
    if result is HealthStatus.HEALTHY:
        return 0, successes + 1
    return failures, successes


def apply_probe(
    instance: Instance,
    vantage: str,
    result: HealthStatus,
    config: FailoverConfig,
    now: datetime,
    *,
    reason: str | None = None,
    checked_at: datetime | None = None,
) -> tuple[Instance, Transition | None]:
    """A probe's result from one vantage, made at `checked_at` (default: now); one no newer than the
    vantage's latest changes nothing (a repeated or reordered delivery). The vantage keeps its own rise/fall (counters and verdict);
    the instance turns unhealthy only when more than half of the vantages that checked it within its
    last two intervals count it unhealthy, healthy by the same majority, and a tie keeps its status.
    The instance's counters are the majority's: the (n//2 + 1)-th largest of those vantages' (so
    "unhealthy with consecutiveFailures >= unhealthyThreshold" holds as it does for one vantage). When
    the vantage is the only one that checked it lately (one vantage, the default) this is the state
    machine of `apply_check`, unchanged."""
    counts = {v.vantage: v for v in instance.vantages}
    own = counts.get(vantage) or VantageCount(vantage)
    at = checked_at or now
    if own.checked_at is not None and at <= own.checked_at:
        return instance, None
    failures, successes = counted(own.failures, own.successes, result)
    as_seen = instance._replace(
        health_status=own.verdict, consecutive_failures=own.failures, consecutive_successes=own.successes
    )
    counts[vantage] = VantageCount(
        vantage, failures, successes, status_after(as_seen, result, config), at, own.recorded + 1
    )
    recent_since = now - timedelta(seconds=2 * config.health_check_interval_seconds)
    recent = [v for v in counts.values() if v.checked_at is not None and v.checked_at > recent_since]
    kept = tuple(sorted(counts.values()))
    if len(recent) <= 1:
        checked, transition = apply_check(instance, result, config, now, reason=reason)
        return checked._replace(vantages=kept), transition
    unhealthy = sum(1 for v in recent if v.verdict is HealthStatus.UNHEALTHY)
    healthy = sum(1 for v in recent if v.verdict is HealthStatus.HEALTHY)
    status = instance.health_status
    if 2 * unhealthy > len(recent):
        status = HealthStatus.UNHEALTHY
    elif 2 * healthy > len(recent):
        status = HealthStatus.HEALTHY
    k = len(recent) // 2  # index of the (n//2 + 1)-th largest
    majority_failures = sorted((v.failures for v in recent), reverse=True)[k]
    majority_successes = sorted((v.successes for v in recent), reverse=True)[k]
    settled, transition = _settled(
        instance, status, majority_failures, majority_successes, config, now, reason=reason, real=True
    )
    return settled._replace(vantages=kept), transition


def _settled(
    instance: Instance,
    new_status: HealthStatus,
    failures: int,
    successes: int,
    config: FailoverConfig,
    now: datetime,
    *,
    connection_count: int | None = None,
    reason: str | None = None,
    real: bool = True,
) -> tuple[Instance, Transition | None]:
    """The bookkeeping of a decided status: the change, flap damping, the incident it opens."""
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
