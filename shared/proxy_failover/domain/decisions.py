"""Failover decisions, pure: evaluate (should the proxy fail over?), the checks of an operator's
switch, and `reconcile`, which takes a proxy's instances as they are now and decides failover,
failback, the recovery cycle, the redundancy posture and what to tell subscribers. The engine
(`engine.py`) runs it for every change and writes what it decides."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from ..errors import InvalidFailoverTarget, SourceNotActive, TargetNotHealthy
from .models import (
    EventType,
    FailoverConfig,
    HealthStatus,
    Instance,
    Redundancy,
    Strategy,
    Switch,
    Transition,
)
from .notices import Notice, NoticeType, Severity, posture_notices, switch_notice, transition_notices
from .redundancy import assess
from .strategies import choose_target, eligible, in_list_order


class DecisionReason(StrEnum):
    """Why evaluate says what it says (endpoint 6's `reason`)."""

    NO_ACTIVE_INSTANCE = "no_active_instance"
    ACTIVE_INSTANCE_HEALTHY = "active_instance_healthy"
    ACTIVE_INSTANCE_UNKNOWN = "active_instance_unknown"  # not checked yet: nothing to fail over from
    BELOW_UNHEALTHY_THRESHOLD = "below_unhealthy_threshold"
    AUTO_FAILOVER_DISABLED = "auto_failover_disabled"
    NO_HEALTHY_BACKUP = "no_healthy_backup"
    ACTIVE_INSTANCE_UNHEALTHY = "active_instance_unhealthy"


class Decision(NamedTuple):
    should_failover: bool
    reason: DecisionReason
    active_instance_id: str | None
    source_instance_id: str | None = None
    target_instance_id: str | None = None
    strategy: Strategy | None = None


class RecoveryAction(StrEnum):
    """What a plan does to an instance's recovery cycle in the ledger."""

    OPEN = "open"
    COMPLETE = "complete"
    FAIL = "fail"


class RecoveryStep(NamedTuple):
    """Ledger work for an instance's recovery cycle: open it, or close it as completed/failed."""

    action: RecoveryAction
    instance_id: str
    reason: str


class Plan(NamedTuple):
    instances: list[Instance]
    active_instance_id: str | None
    redundancy: Redundancy
    switch: Switch | None
    recovery: list[RecoveryStep]
    notices: list[Notice]


def _by_id(instances: Sequence[Instance]) -> dict[str, Instance]:
    return {i.id: i for i in instances}


def evaluate(instances: Sequence[Instance], active_id: str | None, config: FailoverConfig) -> Decision:
    """Should the proxy fail over now? Changes nothing."""
    active = _by_id(instances).get(active_id) if active_id else None
    if active is None:
        return Decision(False, DecisionReason.NO_ACTIVE_INSTANCE, None)
    if active.health_status is HealthStatus.HEALTHY:
        return Decision(False, DecisionReason.ACTIVE_INSTANCE_HEALTHY, active.id)
    if active.health_status is HealthStatus.UNKNOWN:
        return Decision(False, DecisionReason.ACTIVE_INSTANCE_UNKNOWN, active.id)
    if active.consecutive_failures < config.unhealthy_threshold:
        return Decision(False, DecisionReason.BELOW_UNHEALTHY_THRESHOLD, active.id)
    if not config.enable_auto_failover:
        return Decision(False, DecisionReason.AUTO_FAILOVER_DISABLED, active.id)
    target = choose_target(instances, active.id, config.failover_strategy)
    if target is None:
        return Decision(False, DecisionReason.NO_HEALTHY_BACKUP, active.id)
    return Decision(
        True,
        DecisionReason.ACTIVE_INSTANCE_UNHEALTHY,
        active.id,
        source_instance_id=active.id,
        target_instance_id=target.id,
        strategy=config.failover_strategy,
    )


def check_manual_switch(
    instances: Sequence[Instance],
    active_id: str | None,
    source_id: str | None,
    target_id: str,
    *,
    force: bool,
) -> None:
    """Raise the matching domain error when an operator's switch cannot go ahead."""
    by_id = _by_id(instances)
    target = by_id.get(target_id)
    if target is None:
        raise InvalidFailoverTarget("the target instance does not belong to this proxy")
    if source_id is not None and source_id == target_id:
        raise InvalidFailoverTarget("source and target are the same instance")
    if source_id is not None and source_id != active_id:
        raise SourceNotActive("the source instance is no longer the active instance")
    if target_id == active_id:
        raise InvalidFailoverTarget("the target is already the active instance")
    if not force and not eligible(target):
        why = (
            "in maintenance"
            if target.in_maintenance
            else "flapping"
            if target.is_flapping
            else target.health_status.value
        )
        raise TargetNotHealthy(f"the target instance is {why}; use force to switch anyway")


def _failback_target(
    instances: Sequence[Instance], active: Instance, config: FailoverConfig, now: datetime
) -> Instance | None:
    """A strictly better instance (by priority) that has been healthy long enough to take traffic back."""
    if config.failover_strategy is not Strategy.PRIORITY or not config.enable_auto_recovery:
        return None
    if active.health_status is HealthStatus.UNHEALTHY:
        return None  # that is failover's business
    hold_down = timedelta(seconds=config.failback_hold_down_seconds)
    for candidate in in_list_order(instances):
        if candidate.id == active.id:
            return None  # nothing before the active instance qualifies
        if (
            eligible(candidate)
            and candidate.priority < active.priority
            and candidate.consecutive_successes >= config.healthy_threshold
            and (candidate.last_status_change is None or now - candidate.last_status_change >= hold_down)
        ):
            return candidate
    return None


# Doubling stops here: up to 1,000 attempts are allowed, and 2**999 seconds is no date at all.
MAX_RECOVERY_BACKOFF_SECONDS = 24 * 3600


def recovery_backoff_seconds(base: int, attempt: int) -> int:
    """The wait before recovery attempt `attempt + 1`: base, 2x, 4x, ... capped at one day."""
    doublings: int = min(attempt - 1, 32)
    return min(base * (1 << doublings), MAX_RECOVERY_BACKOFF_SECONDS)


def _recovery(
    instances: list[Instance],
    config: FailoverConfig,
    now: datetime,
    jitter: Callable[[], float],
) -> tuple[list[Instance], list[RecoveryStep], list[Notice]]:
    steps: list[RecoveryStep] = []
    notices: list[Notice] = []
    updated: list[Instance] = []
    for instance in instances:
        if instance.in_maintenance:  # no recovery notices while somebody works on it
            updated.append(instance)
            continue
        in_cycle = instance.recovery_attempts > 0 or instance.needs_attention
        # A flapping instance is not recovered by its healthy moments: its cycle stays open, so going
        # down again sends no new first notice, and the next one keeps its backoff (damping spares
        # on-call a recovery_needed per flap, and the ledger a cycle per flap).
        if instance.health_status is HealthStatus.HEALTHY and in_cycle and not instance.is_flapping:
            steps.append(RecoveryStep(RecoveryAction.COMPLETE, instance.id, "instance healthy again"))
            instance = instance._replace(recovery_attempts=0, next_recovery_at=None, needs_attention=False)
        elif (
            instance.health_status is HealthStatus.UNHEALTHY
            and config.enable_auto_recovery
            and not instance.needs_attention
            and (instance.next_recovery_at is None or now >= instance.next_recovery_at)
        ):
            details = {"instanceId": instance.id, "instanceName": instance.name}
            if instance.recovery_attempts < config.max_recovery_attempts:
                attempt = instance.recovery_attempts + 1
                backoff = recovery_backoff_seconds(config.recovery_backoff_seconds, attempt) * jitter()
                instance = instance._replace(
                    recovery_attempts=attempt, next_recovery_at=now + timedelta(seconds=backoff)
                )
                if attempt == 1:
                    steps.append(
                        RecoveryStep(
                            RecoveryAction.OPEN, instance.id, "instance unhealthy: recovery requested"
                        )
                    )
                notices.append(
                    Notice(
                        NoticeType.RECOVERY_NEEDED,
                        Severity.WARNING,
                        {**details, "attempt": attempt, "maxAttempts": config.max_recovery_attempts},
                        instance.incident_id,
                    )
                )
            else:
                instance = instance._replace(needs_attention=True, next_recovery_at=None)
                reason = f"no recovery after {config.max_recovery_attempts} attempts"
                steps.append(RecoveryStep(RecoveryAction.FAIL, instance.id, reason))
                notices.append(
                    Notice(
                        NoticeType.MANUAL_ATTENTION_REQUIRED,
                        Severity.CRITICAL,
                        {**details, "reason": reason},
                        instance.incident_id,
                    )
                )
        updated.append(instance)
    return updated, steps, notices


def reconcile(
    instances: Sequence[Instance],
    active_id: str | None,
    config: FailoverConfig,
    *,
    previous: Redundancy | None,
    transitions: Sequence[Transition] = (),
    now: datetime,
    jitter: Callable[[], float] = lambda: 1.0,
    allow_automatic: bool = True,
    requested: Switch | None = None,
    named: Mapping[str, Instance] | None = None,
    drill: bool = False,
    hold_failback: bool = False,
) -> Plan:
    """Everything that follows from the proxy's current instance states. `requested` is an operator's
    switch, already checked (`check_manual_switch`): it happens instead of any automatic one; `drill`:
    it is a drill's (its notice says so). `hold_failback`: a drill is in progress, so the preferred
    instance does not take the traffic back before the drill ends."""
    current = list(instances)
    by_id = _by_id(current)
    notices = transition_notices(active_id, by_id, transitions)
    switch = requested
    # A proxy degraded by this change belongs to the incident of the active instance, if it is down.
    leaving = by_id.get(active_id or "")
    cause = leaving.incident_id if leaving and leaving.health_status is HealthStatus.UNHEALTHY else None

    if requested is not None:
        allow_automatic = False
    elif current and active_id not in by_id:
        # Never zero active: adopt the best eligible instance, else the first in list order.
        ordered = in_list_order(current)
        chosen = next((i for i in ordered if eligible(i)), ordered[0])
        active_id = chosen.id
    elif not current:
        active_id = None

    if allow_automatic and active_id is not None:
        decision = evaluate(current, active_id, config)
        if decision.should_failover and decision.target_instance_id:
            target = by_id[decision.target_instance_id]
            switch = Switch(
                EventType.FAILOVER,
                active_id,
                target.id,
                f"active instance {by_id[active_id].name} unhealthy; "
                f"switched to {target.name} by {config.failover_strategy.value}",
            )
        elif not hold_failback:
            back = _failback_target(current, by_id[active_id], config, now)
            if back is not None:
                switch = Switch(
                    EventType.FAILBACK,
                    active_id,
                    back.id,
                    f"preferred instance {back.name} healthy for {config.failback_hold_down_seconds}s",
                )
    if switch is not None:
        # `named`: instances the notice may name that left in this change (a deregistered source)
        notices.append(switch_notice(switch, {**(named or {}), **by_id}, drill=drill and switch is requested))
        active_id = switch.target_instance_id

    current, steps, recovery_notices = _recovery(current, config, now, jitter)
    notices.extend(recovery_notices)

    redundancy = assess(current, active_id, config.failover_strategy)
    notices.extend(posture_notices(previous, redundancy, incident=cause))
    return Plan(current, active_id, redundancy, switch, steps, notices)
