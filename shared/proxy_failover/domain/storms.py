"""Failover storms, pure: when more than a threshold of one owner's proxies fail over within a minute,
one `fleet_incident` (critical) is published and that minute's individual failovers go out as
`warning`, so a pager subscribed to `critical` is woken once rather than once per proxy."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from .notices import Notice, NoticeType, Severity

WINDOW_SECONDS = 60
MAX_PROXY_IDS = 1000  # a fleet_incident names at most this many proxies (newest first)


class StormState(NamedTuple):
    """One owner's failovers over the last minute: counts per second (epoch second -> count), the
    proxies that failed over (newest first, [epoch second, proxy id]), and the storm in progress."""

    per_second: dict[int, int] = {}
    proxy_ids: tuple[tuple[int, str], ...] = ()
    storm_id: str | None = None
    storm_until: datetime | None = None


class Verdict(NamedTuple):
    state: StormState
    # The failovers just observed belong to a storm: they go out as `warning`, naming `storm_id`.
    in_storm: bool
    fleet_notice: Notice | None


def observe(
    owner_id: str, state: StormState, failed_over: Sequence[str], now: datetime, threshold: int
) -> Verdict:
    """Count the proxies that just failed over (none: only whether a storm is on). Past the threshold
    within the window, a storm opens (one fleet notice) or goes on; it lasts until a minute after its
    latest failover."""
    second = int(now.timestamp())
    oldest = second - WINDOW_SECONDS
    per_second = {s: n for s, n in state.per_second.items() if s > oldest}
    if failed_over:
        per_second[second] = per_second.get(second, 0) + len(failed_over)
    recent = [(s, p) for s, p in state.proxy_ids if s > oldest]
    proxy_ids = tuple([*((second, p) for p in reversed(failed_over)), *recent][:MAX_PROXY_IDS])
    count = sum(per_second.values())
    storm_open = state.storm_until is not None and state.storm_until > now
    storm_id, storm_until = (state.storm_id, state.storm_until) if storm_open else (None, None)
    notice = None
    if count > threshold:
        if not storm_open:
            storm_id = str(uuid.uuid5(_STORMS, f"{owner_id}@{now.isoformat()}"))
            notice = Notice(
                NoticeType.FLEET_INCIDENT,
                Severity.CRITICAL,
                {
                    "count": count,
                    "windowSeconds": WINDOW_SECONDS,
                    "threshold": threshold,
                    "proxyIds": list(dict.fromkeys(p for _, p in proxy_ids)),
                },
                storm_id,
            )
        storm_until = now + timedelta(seconds=WINDOW_SECONDS)
    in_storm = storm_id is not None
    return Verdict(StormState(per_second, proxy_ids, storm_id, storm_until), in_storm, notice)


_STORMS = uuid.UUID("0b7d5a3e-9c41-4b8e-a2f6-3d1e5c7a9b20")
