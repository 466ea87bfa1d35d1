"""The fleet's safety, pure: which vantages can see (impaired by their canaries, absent when they stop
running), whether any can (checks suspended), and the notices each change sends, once per change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from .notices import Notice, NoticeType, Severity


class AutoFailover(StrEnum):
    """The emergency brake: `held`, nothing switches by itself anywhere."""

    ENABLED = "enabled"
    HELD = "held"


class VantageState(NamedTuple):
    name: str
    last_run_at: datetime | None
    impaired: bool
    known_since: datetime | None = None  # when it was (re)configured: it has as long to run again


class SafetyState(NamedTuple):
    auto_failover: AutoFailover
    reason: str | None
    changed_by: str | None
    changed_at: datetime | None
    checks_suspended: bool
    release_pending: bool


class SeenVantage(NamedTuple):
    state: VantageState
    absent: bool


class FleetSafety(NamedTuple):
    """What GET /fleet/safety answers: the safety state and every vantage as seen now."""

    state: SafetyState
    vantages: list[SeenVantage]


def canaries_blind(results: Sequence[bool]) -> bool:
    """A vantage whose canaries all failed cannot see: none configured, it always can."""
    return bool(results) and not any(results)


def absent(vantage: VantageState, now: datetime, absent_after_seconds: float) -> bool:
    """No run for that long (two dispatch periods): counted out, as if it were not there. One just
    configured (or started again) has as long to run."""
    times = [t for t in (vantage.last_run_at, vantage.known_since) if t is not None]
    return not times or now - max(times) > timedelta(seconds=absent_after_seconds)


def none_can_see(vantages: Sequence[VantageState], now: datetime, absent_after_seconds: float) -> bool:
    """Every vantage impaired or absent (and at least one known): nothing is watching the fleet."""
    return bool(vantages) and all(v.impaired or absent(v, now, absent_after_seconds) for v in vantages)


def vantage_notice(name: str, impaired: bool, canaries: Sequence[str]) -> Notice:
    if impaired:
        details = {"vantage": name, "canaries": list(canaries), "reason": "every canary failed"}
        return Notice(NoticeType.VANTAGE_IMPAIRED, Severity.WARNING, details)
    return Notice(NoticeType.VANTAGE_RESTORED, Severity.INFO, {"vantage": name})


def checks_notice(
    suspended: bool, vantages: Sequence[VantageState], now: datetime, absent_after: float
) -> Notice:
    seen = [
        {"name": v.name, "impaired": v.impaired, "absent": absent(v, now, absent_after)} for v in vantages
    ]
    if suspended:
        return Notice(NoticeType.CHECKS_SUSPENDED, Severity.CRITICAL, {"vantages": seen})
    return Notice(NoticeType.CHECKS_RESUMED, Severity.INFO, {"vantages": seen})


def brake_notice(state: AutoFailover, reason: str, changed_by: str) -> Notice:
    details = {"autoFailover": state.value, "reason": reason, "changedBy": changed_by}
    if state is AutoFailover.HELD:
        return Notice(NoticeType.AUTO_FAILOVER_HELD, Severity.CRITICAL, details)
    return Notice(NoticeType.AUTO_FAILOVER_RELEASED, Severity.INFO, details)
