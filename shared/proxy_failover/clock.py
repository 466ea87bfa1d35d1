"""Time and chance, given to the domain instead of read by it: the wall clock, and the jitter that
keeps recovering fleets from moving in lockstep. Tests pass their own."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
Jitter = Callable[[], float]


def utcnow() -> datetime:
    return datetime.now(UTC)


def jitter_source(rng: random.Random | None = None) -> Jitter:
    """Backoff jitter: a factor in [0.8, 1.2)."""
    draw = (rng or random.Random()).random
    return lambda: 0.8 + 0.4 * draw()
