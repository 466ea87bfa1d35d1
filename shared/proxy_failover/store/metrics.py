"""Reported metrics samples: one row per report that carries metrics (connection counts feed the
least-connections strategy). Both the one-statement report and the engine's write insert them with
this fragment, from a recordset of `metrics_row`s."""

from __future__ import annotations

from datetime import datetime
from typing import Any

METRICS_INSERT = """
INSERT INTO proxy_instance_metrics (instance_id, recorded_at, cpu_percent, memory_percent, request_rate,
                                    average_latency_ms, error_rate, connection_count, throughput_mbps)
SELECT m.instance_id, m.recorded_at, m.cpu, m.mem, m.rate, m.latency, m.errors, m.conns, m.mbps
  FROM jsonb_to_recordset(CAST(:metrics AS jsonb)) AS m(instance_id uuid, recorded_at timestamptz,
       cpu float8, mem float8, rate float8, latency float8, errors float8, conns integer, mbps float8)
"""


def metrics_row(instance_id: str, now: datetime, metrics: dict[str, Any]) -> dict[str, Any]:
    """A reported sample (the short keys of `api.bodies.metrics_row`) as a row of the recordset."""
    return {"instance_id": instance_id, "recorded_at": now, **metrics}
