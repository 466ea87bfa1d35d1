"""Reported metrics samples: one row per report that carries metrics (connection counts feed the
least-connections strategy). Both the one-statement report and the engine's write insert them with
this fragment, from a recordset of `sample_row`s."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.models import MetricsSample

METRICS_INSERT = """
INSERT INTO proxy_instance_metrics (instance_id, recorded_at, cpu_percent, memory_percent, request_rate,
                                    average_latency_ms, error_rate, connection_count, throughput_mbps)
SELECT m.instance_id, m.recorded_at, m.cpu_percent, m.memory_percent, m.request_rate, m.average_latency_ms,
       m.error_rate, m.connection_count, m.throughput_mbps
  FROM jsonb_to_recordset(CAST(:metrics AS jsonb)) AS m(instance_id uuid, recorded_at timestamptz,
       cpu_percent float8, memory_percent float8, request_rate float8, average_latency_ms float8,
       error_rate float8, connection_count integer, throughput_mbps float8)
"""


def sample_row(instance_id: str, now: datetime, sample: MetricsSample) -> dict[str, Any]:
    """A reported sample as a row of the recordset (its fields are the table's columns)."""
    return {"instance_id": instance_id, "recorded_at": now, **sample._asdict()}
