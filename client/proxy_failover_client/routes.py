"""The routing answer as the data plane holds it (GET /proxy/{id}/route, `route_changed`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Ramp:
    """Slow start: the share grows linearly from `start` of it at `starts_at` to all of it at `ends_at`."""

    start: float
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Target:
    instance_id: str
    endpoint: str | None
    share: float
    ramp: Ramp | None = None

    def weight_at(self, now: datetime) -> float:
        """Its share scaled by its ramp's progress (divide by the targets' sum: `Route.shares_at`)."""
        ramp = self.ramp
        if ramp is None or now >= ramp.ends_at:
            return self.share
        if now <= ramp.starts_at:
            return self.share * ramp.start
        progress = (now - ramp.starts_at) / (ramp.ends_at - ramp.starts_at)
        return self.share * (ramp.start + (1 - ramp.start) * progress)


@dataclass(frozen=True)
class Route:
    proxy_id: str
    active_instance_id: str
    endpoint: str | None
    algorithm: str | None
    targets: list[Target]
    degraded: bool
    version: int
    etag: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], *, etag: str | None = None) -> Route:
        return cls(
            proxy_id=data["proxyId"],
            active_instance_id=data["activeInstanceId"],
            endpoint=data.get("endpoint"),
            algorithm=data.get("algorithm"),
            targets=[
                Target(
                    t["instanceId"],
                    t.get("endpoint"),
                    float(t["share"]),
                    None
                    if not t.get("ramp")
                    else Ramp(
                        float(t["ramp"]["from"]), _time(t["ramp"]["startsAt"]), _time(t["ramp"]["endsAt"])
                    ),
                )
                for t in data["targets"]
            ],
            degraded=bool(data["degraded"]),
            version=int(data.get("version", 0)),
            etag=etag,
            raw=data,
        )

    def shares_at(self, now: datetime | None = None) -> dict[str, float]:
        """Each target's share of the moment (slow start's ramps applied), summing to 1."""
        moment = now or datetime.now(UTC)
        weights = {t.instance_id: t.weight_at(moment) for t in self.targets}
        total = sum(weights.values())
        return {k: (w / total if total > 0 else w) for k, w in weights.items()}
