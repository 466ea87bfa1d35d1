"""The recent check results of an instance: the rings its checks write (`check_results`), newest
first, in one statement with tenancy."""

from __future__ import annotations

from datetime import datetime

from ..identity import Principal
from .db import Connection
from .tenancy import VISIBLE as _VISIBLE
from .tenancy import visible_to


class CheckRecord:
    """One result: when, from which vantage (None: a report), what, how long it took and why it failed."""

    __slots__ = ("checked_at", "latency_ms", "reason", "result", "vantage")

    def __init__(
        self,
        checked_at: datetime,
        vantage: str | None,
        result: str,
        latency_ms: float | None,
        reason: str | None,
    ) -> None:
        self.checked_at, self.vantage, self.result = checked_at, vantage, result
        self.latency_ms, self.reason = latency_ms, reason


# The instance row says whether the caller may see it; its rings are read by the primary key's
# instance prefix (at most 100 rows per source) and the newest :limit kept.
_RECENT = f"""
SELECT i.id, h.checked_at, h.source_key, h.result, h.latency_ms, h.reason
  FROM proxy_instances i
  JOIN proxies p ON p.proxy_id = i.proxy_id
  LEFT JOIN LATERAL (
      SELECT * FROM check_results h WHERE h.instance_id = i.id
       ORDER BY h.checked_at DESC, h.source_key, h.slot LIMIT :limit
  ) h ON true
 WHERE i.id = CAST(:id AS uuid) AND {_VISIBLE}
 ORDER BY h.checked_at DESC, h.source_key
"""


def recent_checks(
    con: Connection, instance_id: str, principal: Principal, limit: int
) -> list[CheckRecord] | None:
    """Newest first; None when the instance is not visible to the principal."""
    rows = con.run(_RECENT, id=instance_id, limit=limit, **visible_to(principal))
    if not rows:
        return None
    return [
        CheckRecord(at, source or None, result, latency, reason)
        for _, at, source, result, latency, reason in rows
        if at is not None
    ]
