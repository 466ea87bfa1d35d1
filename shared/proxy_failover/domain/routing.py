"""The routing answer the data plane asks for, pure: the active instance, and with load balancing
on, the instances to spread connections over with their shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .models import LoadBalancingAlgorithm


class Candidate(NamedTuple):
    """An instance that may take traffic: healthy, not flapping, not in maintenance."""

    instance_id: str
    endpoint: str | None
    weight: int
    connections: int | None


class Target(NamedTuple):
    instance_id: str
    endpoint: str | None
    share: float


class RouteAnswer(NamedTuple):
    proxy_id: str
    active_instance_id: str
    endpoint: str | None
    algorithm: LoadBalancingAlgorithm | None
    targets: list[Target]
    degraded: bool


def _shares(candidates: Sequence[Candidate], algorithm: LoadBalancingAlgorithm) -> list[float]:
    raw: list[float]
    if algorithm is LoadBalancingAlgorithm.WEIGHTED:
        raw = [float(max(c.weight, 0)) for c in candidates]
    elif algorithm is LoadBalancingAlgorithm.LEAST_CONNECTIONS:
        raw = [1.0 / (1 + (c.connections or 0)) for c in candidates]  # the idler, the larger
    else:
        raw = [1.0 for _ in candidates]
    total = float(sum(raw))
    if total <= 0:  # every weight 0: nobody is preferred
        raw, total = [1.0 for _ in candidates], float(len(candidates))
    shares = [round(value / total, 6) for value in raw]
    largest = shares.index(max(shares))  # rounding's remainder goes to the largest: the sum is 1
    shares[largest] = round(shares[largest] + 1.0 - sum(shares), 6)
    return shares


def answer(
    proxy_id: str,
    active: Candidate,
    *,
    load_balancing: bool,
    algorithm: LoadBalancingAlgorithm,
    candidates: Sequence[Candidate],
    degraded: bool,
) -> RouteAnswer:
    """Without load balancing, or with no instance that may take traffic: the active instance alone."""
    if not load_balancing or not candidates:
        target = Target(active.instance_id, active.endpoint, 1.0)
        return RouteAnswer(
            proxy_id,
            active.instance_id,
            active.endpoint,
            algorithm if load_balancing else None,
            [target],
            degraded,
        )
    targets = [
        Target(c.instance_id, c.endpoint, share)
        for c, share in zip(candidates, _shares(candidates, algorithm), strict=True)
    ]
    return RouteAnswer(proxy_id, active.instance_id, active.endpoint, algorithm, targets, degraded)
