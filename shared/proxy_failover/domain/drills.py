"""Drills, pure: a real switch marked as a rehearsal, concluded when its time is up by switching back
to the instance that was active before (when it is healthy) or by failing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from .models import Drill, EventStatus, EventType, Instance, Switch
from .notices import Notice, NoticeType, Severity
from .strategies import eligible


class DrillEnd(NamedTuple):
    """How a drill ends: the switch back (None when there is none to make) and the event's outcome."""

    switch: Switch | None
    status: EventStatus
    error: str | None = None


def conclude(
    drill: Drill, instances: Sequence[Instance], active_id: str | None, now: datetime
) -> DrillEnd | None:
    """None while the drill runs. When it is due: back to the instance active before it if that one may
    take traffic (healthy, not flapping, not in maintenance), else a failed event, the proxy left where
    it is."""
    if drill.until > now:
        return None
    by_id = {i.id: i for i in instances}
    back = by_id.get(drill.return_to)
    active = by_id.get(active_id or "")
    staying = f"the proxy stays on {active.name}" if active else "the proxy stays where it is"
    if back is None:
        return DrillEnd(None, EventStatus.FAILED, f"the instance active before the drill is gone; {staying}")
    if back.id == active_id:
        return DrillEnd(None, EventStatus.COMPLETED)  # already back (a real failback came first)
    if not eligible(back):
        why = (
            "in maintenance"
            if back.in_maintenance
            else "flapping"
            if back.is_flapping
            else back.health_status.value
        )
        return DrillEnd(None, EventStatus.FAILED, f"instance {back.name} is {why}; {staying}")
    reason = f"drill over: back to {back.name}"
    return DrillEnd(Switch(EventType.FAILBACK, active_id, back.id, reason), EventStatus.COMPLETED)


def failed_notice(drill: Drill, end: DrillEnd) -> Notice:
    """What subscribers hear when a drill could not switch back (a successful one sends a failback)."""
    details = {"eventId": drill.event_id, "returnTo": drill.return_to, "errorMessage": end.error}
    return Notice(NoticeType.DRILL_FAILED, Severity.WARNING, details, drill.event_id, drill=True)
