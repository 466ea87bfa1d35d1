"""The routing answer the data plane asks for, pure: the active instance, and with load balancing
on, the instances to spread connections over with their shares.

Every write decides the answer anew (`decide_route`) from the proxy as the write leaves it and the
answer stored before it; a write whose answer differs stores it with its version + 1 and publishes
`route_changed`. So the answer, its ETag and its pushes are one and the same, and two rules keep it
from moving when nothing a data plane should act on moved:

- least-connections shares follow reported connection counts only past `SHARE_STEP` (a target's
  share moves by at least that much, or the set of targets changes): a report that nudges a count
  changes nothing;
- slow start's ramp is stated once (`Ramp`: from 10% of the share at `starts_at` to all of it at
  `ends_at`); the share of the moment is the data plane's to compute (`share_at`), so the answer does
  not change every second of the ramp, only when it starts and when it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from .models import FailoverConfig, HealthStatus, Instance, LoadBalancingAlgorithm, Ramp, RouteAnswer, Target

# A least-connections share moves only when it would move by this much (5 percentage points).
SHARE_STEP = 0.05


class Candidate(NamedTuple):
    """An instance that may take traffic: healthy, not flapping, not in maintenance."""

    instance_id: str
    endpoint: str | None
    weight: int
    connections: int | None


class VersionedRoute(NamedTuple):
    """An answer with its version: what GET route returns and route_changed carries."""

    route: RouteAnswer
    version: int


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


def takes_traffic(instance: Instance) -> bool:
    return (
        instance.health_status is HealthStatus.HEALTHY
        and not instance.is_flapping
        and not instance.in_maintenance
    )


def decide_route(
    proxy_id: str,
    instances: Sequence[Instance],
    active_instance_id: str | None,
    config: FailoverConfig,
    *,
    degraded: bool,
    previous: RouteAnswer | None,
    now: datetime,
) -> RouteAnswer | None:
    """The answer after a write (None: the proxy has no active instance, GET route is a 404)."""
    by_id = {i.id: i for i in instances}
    active = by_id.get(active_instance_id or "")
    if active is None:
        return None
    ordered = sorted(instances, key=lambda i: i.list_key)
    fresh = answer(
        proxy_id,
        _candidate(active),
        load_balancing=config.enable_load_balancing,
        algorithm=config.load_balancing_algorithm,
        candidates=[_candidate(i) for i in ordered if takes_traffic(i)],
        degraded=degraded,
    )
    fresh = _steady_shares(fresh, previous)
    if config.enable_load_balancing and config.slow_start_seconds and len(fresh.targets) > 1:
        fresh = _ramped(fresh, previous, timedelta(seconds=config.slow_start_seconds), now)
    return fresh


def _candidate(instance: Instance) -> Candidate:
    return Candidate(instance.id, instance.endpoint, instance.weight, instance.connection_count)


def _steady_shares(fresh: RouteAnswer, previous: RouteAnswer | None) -> RouteAnswer:
    """Least-connections shares as they were, unless one of them moved by SHARE_STEP or more (or the
    targets are others): connection counts change with every report."""
    if (
        previous is None
        or fresh.algorithm is not LoadBalancingAlgorithm.LEAST_CONNECTIONS
        or previous.algorithm is not LoadBalancingAlgorithm.LEAST_CONNECTIONS
        or [t.instance_id for t in fresh.targets] != [t.instance_id for t in previous.targets]
    ):
        return fresh
    if any(
        abs(t.share - p.share) >= SHARE_STEP for t, p in zip(fresh.targets, previous.targets, strict=True)
    ):
        return fresh
    kept = [t._replace(share=p.share) for t, p in zip(fresh.targets, previous.targets, strict=True)]
    return fresh._replace(targets=kept)


def _ramped(
    fresh: RouteAnswer, previous: RouteAnswer | None, length: timedelta, now: datetime
) -> RouteAnswer:
    """A target that was not one before starts its ramp now; a ramp in progress goes on; one whose
    time is up is over. A proxy's first answer ramps nothing (there was no traffic to protect)."""
    if previous is None:
        return fresh
    before = {t.instance_id: t for t in previous.targets if previous.algorithm is not None}
    targets = []
    for target in fresh.targets:
        was = before.get(target.instance_id)
        if was is None:
            ramp: Ramp | None = Ramp(now, now + length)
        else:
            ramp = was.ramp if was.ramp is not None and was.ramp.ends_at > now else None
        targets.append(target._replace(ramp=ramp))
    return fresh._replace(targets=targets)


def ramp_ends(route: RouteAnswer | None) -> datetime | None:
    """When the next ramp ends: the sweep writes the proxy then, and the answer drops it."""
    if route is None:
        return None
    ends = [t.ramp.ends_at for t in route.targets if t.ramp is not None]
    return min(ends) if ends else None


def share_at(target: Target, now: datetime) -> float:
    """A target's weight of the moment: its share, scaled by its ramp's progress. The data plane
    divides each target's by their sum (`shares_at`)."""
    ramp = target.ramp
    if ramp is None or now >= ramp.ends_at:
        return target.share
    if now <= ramp.starts_at:
        return target.share * ramp.start
    progress = (now - ramp.starts_at) / (ramp.ends_at - ramp.starts_at)
    return target.share * (ramp.start + (1 - ramp.start) * progress)


def shares_at(route: RouteAnswer, now: datetime) -> list[float]:
    """The shares of the moment, summing to 1."""
    weights = [share_at(t, now) for t in route.targets]
    total = sum(weights)
    return [w / total for w in weights] if total > 0 else weights


# ---- the answer as the API and the notifications carry it ---------------------------------------


def route_json(route: RouteAnswer, version: int) -> dict[str, Any]:
    """The answer as GET /proxy/{id}/route returns it and `route_changed` carries it (what is
    stored with the proxy is this without its version)."""
    return {
        "proxyId": route.proxy_id,
        "activeInstanceId": route.active_instance_id,
        "endpoint": route.endpoint,
        "algorithm": None if route.algorithm is None else route.algorithm.value,
        "targets": [_target_json(t) for t in route.targets],
        "degraded": route.degraded,
        "version": version,
    }


def _target_json(t: Target) -> dict[str, Any]:
    ramp = t.ramp
    return {
        "instanceId": t.instance_id,
        "endpoint": t.endpoint,
        "share": t.share,
        "ramp": None
        if ramp is None
        else {"from": ramp.start, "startsAt": ramp.starts_at.isoformat(), "endsAt": ramp.ends_at.isoformat()},
    }


def route_from_json(stored: dict[str, Any]) -> RouteAnswer:
    return RouteAnswer(
        stored["proxyId"],
        stored["activeInstanceId"],
        stored["endpoint"],
        None if stored["algorithm"] is None else LoadBalancingAlgorithm(stored["algorithm"]),
        [
            Target(
                t["instanceId"],
                t["endpoint"],
                t["share"],
                None
                if t.get("ramp") is None
                else Ramp(
                    datetime.fromisoformat(t["ramp"]["startsAt"]),
                    datetime.fromisoformat(t["ramp"]["endsAt"]),
                    t["ramp"]["from"],
                ),
            )
            for t in stored["targets"]
        ],
        stored["degraded"],
    )
