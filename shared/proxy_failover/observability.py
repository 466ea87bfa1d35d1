"""Logging and metrics for the whole layer.

The API handlers are cold-start sensitive, so logging stays on the standard library: a JSON formatter
with the same shape as powertools' Logger, carrying the request id as correlation id. Metrics are
powertools' EMF metrics, loaded only by the sweep that emits them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

SERVICE = "proxy-failover"
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # timestamps in UTC, as their "Z" says

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


def _root_logger() -> logging.Logger:
    logger = logging.getLogger("proxy_failover")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)
    return logger


_root = _root_logger()
_level_applied: str | None = None


def apply_log_level(level: str) -> None:
    """Set the layer's log level (entry points call this with the settings' value on every invocation;
    only a change costs anything). Never read at import, so a caller can set LOG_LEVEL first."""
    global _level_applied
    if level != _level_applied:
        _root.setLevel(level.upper())
        _level_applied = level


def get_logger(name: str) -> logging.Logger:
    """A child of the layer's JSON logger: `logger.info("msg", extra={"proxy_id": ...})`."""
    return _root.getChild(name.removeprefix("proxy_failover."))


def metrics() -> Any:
    """powertools' CloudWatch EMF metrics, imported on first use: the sweep emits them; the API
    handlers, whose cold start is mostly imports, do not load powertools at all."""
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ProxyFailover"), service=SERVICE)
