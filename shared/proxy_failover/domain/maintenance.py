"""Maintenance with a time limit, pure: an instance in maintenance is never a failover or failback
target, not a backup, no cause of degradation, and its check results are recorded without notices.
The engine ends maintenance whose time is up on every write (the sweep's included)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .models import Instance


def expire(instances: Sequence[Instance], now: datetime) -> list[Instance]:
    """The instances with every maintenance whose `until` has passed ended."""
    return [
        i._replace(maintenance=None) if i.maintenance is not None and i.maintenance.until <= now else i
        for i in instances
    ]


def started_and_ended(
    before: Sequence[Instance], after: Sequence[Instance]
) -> tuple[list[Instance], list[Instance]]:
    """Which instances went into maintenance, and which came out of it (by a request, or its time up)."""
    previous = {i.id: i for i in before}
    started, ended = [], []
    for instance in after:
        was = previous.get(instance.id)
        if was is None:
            continue
        if instance.maintenance is not None and was.maintenance is None:
            started.append(instance)
        elif instance.maintenance is None and was.maintenance is not None:
            ended.append(instance)
    return started, ended
