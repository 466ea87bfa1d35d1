"""Logging, metrics and tracing for the whole layer.

The API handlers are cold-start sensitive, so this module stays on the standard library: a JSON
log formatter (the same shape as powertools' Logger) and CloudWatch EMF metrics written as one JSON
line. powertools' Tracer is loaded only by the sweep, where import cost does not matter.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

SERVICE = "proxy-failover"
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.module}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "service": SERVICE,
            "logger": record.name,
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _RESERVED:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _configure_root() -> logging.Logger:
    logger = logging.getLogger("proxy_failover")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        level = os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO"
        logger.setLevel(level.upper())
    return logger


_root = _configure_root()


def get_logger(name: str) -> logging.Logger:
    """A child of the layer's JSON logger: `logger.info("msg", extra={"proxy_id": ...})`."""
    return _root.getChild(name.removeprefix("proxy_failover."))


class Metrics:
    """Collects CloudWatch metrics and flushes them as one EMF document (no API call, no import cost)."""

    def __init__(self, namespace: str = "ProxyFailover") -> None:
        self.namespace = namespace
        self._values: dict[str, tuple[str, list[float]]] = {}

    def add(self, name: str, value: float, unit: str = "Count") -> None:
        self._values.setdefault(name, (unit, []))[1].append(value)

    def flush(self, **dimensions: str) -> dict[str, Any] | None:
        if not self._values:
            return None
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [sorted(["service", *dimensions])],
                        "Metrics": [{"Name": n, "Unit": u} for n, (u, _) in sorted(self._values.items())],
                    }
                ],
            },
            "service": SERVICE,
            **dimensions,
        }
        for name, (_, values) in self._values.items():
            document[name] = values if len(values) > 1 else values[0]
        self._values.clear()
        if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() != "true":
            sys.stdout.write(json.dumps(document) + "\n")
        return document


@contextmanager
def timed(metrics: Metrics, name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.add(name, (time.perf_counter() - started) * 1000.0, "Milliseconds")
