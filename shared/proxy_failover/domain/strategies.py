"""Choosing the failover target, by strategy (the routing answer's shares are `routing.py`'s)."""

from __future__ import annotations

from collections.abc import Sequence

from .models import HealthStatus, Instance, Strategy


def eligible(instance: Instance) -> bool:
    """May carry traffic after a switch: healthy, not flapping, not in maintenance."""
    return (
        instance.health_status is HealthStatus.HEALTHY
        and not instance.is_flapping
        and not instance.in_maintenance
    )


def in_list_order(instances: Sequence[Instance]) -> list[Instance]:
    return sorted(instances, key=lambda i: i.list_key)


def _connections(instance: Instance) -> int:
    # An instance that never reported connections is taken as idle.
    return instance.connection_count or 0


def failover_order(
    instances: Sequence[Instance], active_id: str | None, strategy: Strategy
) -> list[Instance]:
    """Eligible non-active instances, best target first."""
    ordered = in_list_order(instances)
    candidates = [i for i in ordered if i.id != active_id and eligible(i)]
    if strategy is Strategy.PRIORITY:
        return candidates  # list order is already priority asc, weight desc
    if strategy is Strategy.LEAST_CONNECTIONS:
        return sorted(candidates, key=lambda i: (_connections(i), i.list_key))
    # round robin: the next eligible instances after the active one, wrapping around the list.
    ids = [i.id for i in ordered]
    start = ids.index(active_id) + 1 if active_id in ids else 0
    rotated = ordered[start:] + ordered[:start]
    return [i for i in rotated if i.id != active_id and eligible(i)]


def choose_target(
    instances: Sequence[Instance], active_id: str | None, strategy: Strategy
) -> Instance | None:
    order = failover_order(instances, active_id, strategy)
    return order[0] if order else None
