"""Retention: the oldest rows of the tables that grow with use, deleted in small batches (each its own
short statement: no lock held long, no scan, thanks to the indexes of migration 004)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import NamedTuple

from .db import Connection


class Rule(NamedTuple):
    table: str
    # One batch: the oldest rows past :cutoff, at most :limit of them.
    delete: str


def _batch(table: str, oldest_first: str) -> str:
    """The oldest rows past :cutoff, at most :limit, by their physical address (a TID scan: no join
    of the table against itself, whatever its size)."""
    return (
        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM {table} WHERE {oldest_first} LIMIT :limit)) RETURNING 1"
    )


RULES = {
    "metrics": Rule(
        "proxy_instance_metrics",
        _batch("proxy_instance_metrics", "recorded_at < :cutoff ORDER BY recorded_at"),
    ),
    "sent_notifications": Rule(
        "notification_outbox", _batch("notification_outbox", "sent_at < :cutoff ORDER BY sent_at")
    ),
    # an event still in progress (an open recovery cycle, a drill) is kept whatever its age
    "events": Rule(
        "proxy_failover_events",
        _batch(
            "proxy_failover_events",
            "status <> 'in_progress' AND completed_at < :cutoff ORDER BY completed_at",
        ),
    ),
    # a decommissioned proxy's config history goes with its ledger (the same age, from its removal)
    "removed_config_versions": Rule(
        "config_versions",
        _batch("config_versions", "removed_at < :cutoff ORDER BY removed_at"),
    ),
    # a key's answer is used for 10 minutes; an hour leaves room for clocks
    "report_keys": Rule("report_keys", _batch("report_keys", "created_at < :cutoff ORDER BY created_at")),
    # storms count the pages of the last minute only
    "storm_pages": Rule("fleet_page_last", _batch("fleet_page_last", "paged_at < :cutoff ORDER BY paged_at")),
}


def enforce(
    con: Connection,
    now: datetime,
    keep: dict[str, timedelta],
    *,
    batch_rows: int,
    budget_seconds: float,
) -> dict[str, int]:
    """Delete, rule by rule, what is older than `keep[rule]`, `batch_rows` at a time, until nothing is
    left or `budget_seconds` are spent (the next run goes on). Returns the rows deleted per rule."""
    deadline = time.monotonic() + budget_seconds
    deleted = dict.fromkeys(keep, 0)
    for name, age in keep.items():
        rule = RULES[name]
        while time.monotonic() < deadline:
            count = len(con.run(rule.delete, cutoff=now - age, limit=batch_rows))
            deleted[name] += count
            if count < batch_rows:
                break
    return deleted
