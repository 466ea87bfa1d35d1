"""Choosing the failover target (by strategy) and a routing answer (by load-balancing algorithm)."""

from __future__ import annotations

from collections.abc import Sequence

from .models import HealthStatus, Instance, LoadBalancingAlgorithm, Strategy


def eligible(instance: Instance) -> bool:
    """May carry traffic after a switch: healthy and not flapping."""
    return instance.health_status is HealthStatus.HEALTHY and not instance.is_flapping


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


def route(
    instances: Sequence[Instance],
    algorithm: LoadBalancingAlgorithm,
    *,
    sequence: int,
    draw: float,
) -> Instance | None:
    """Which instance should take the next connection.

    `sequence` is a monotonically increasing request counter (round robin), `draw` a uniform number
    in [0, 1) (weighted). Both are inputs so the choice is reproducible.
    """
    pool = [i for i in in_list_order(instances) if eligible(i)]
    if not pool:
        return None
    if algorithm is LoadBalancingAlgorithm.ROUND_ROBIN:
        return pool[sequence % len(pool)]
    if algorithm is LoadBalancingAlgorithm.LEAST_CONNECTIONS:
        return min(pool, key=lambda i: (_connections(i), i.list_key))
    total = sum(max(i.weight, 0) for i in pool)
    if total <= 0:
        return pool[0]
    point = draw * total
    for instance in pool:
        point -= max(instance.weight, 0)
        if point < 0:
            return instance
    return pool[-1]
