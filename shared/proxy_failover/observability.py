"""Logging and metrics for the whole layer.

The API handlers are cold-start sensitive, so logging stays on the standard library: a JSON formatter
with powertools' Logger's shape (~118 ms of imports saved per cold start). Every line of an invocation
carries what a Lambda user filters on: `cold_start`, `function_name`, `function_request_id`,
`xray_trace_id` (when Lambda gives one), the API request's `correlation_id`, and the sweep's `run_id`.
Metrics are CloudWatch EMF: powertools' Metrics for the sweep, which emits many; one hand-written line
for the API's rare ones (`emit_metric`), so a handler never loads powertools.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_invocation: ContextVar[dict[str, Any]] = ContextVar("invocation", default={})  # noqa: B039 - never mutated
_service = "proxy-failover"
_cold = True

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # timestamps in UTC, as their "Z" says

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.module}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "service": _service,
            "logger": record.name,
            **_invocation.get(),
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


def begin_invocation(context: Any, settings: Settings, **fields: Any) -> Token[dict[str, Any]]:
    """What every log line of this invocation carries; entry points call it first (and `end_invocation`
    last). `context` is Lambda's (None outside Lambda); `fields` are the entry's own (e.g. `run_id`)."""
    global _cold, _service
    apply_log_level(settings.effective_log_level)
    _service = settings.powertools_service_name
    values: dict[str, Any] = {"cold_start": _cold}
    _cold = False
    if context is not None:
        values["function_name"] = getattr(context, "function_name", None)
        values["function_request_id"] = getattr(context, "aws_request_id", None)
    trace = os.environ.get("_X_AMZN_TRACE_ID", "")  # set by Lambda per invocation when traced
    root = next((part[5:] for part in trace.split(";") if part.startswith("Root=")), None)
    if root:
        values["xray_trace_id"] = root
    values.update(fields)
    return _invocation.set(values)


def end_invocation(token: Token[dict[str, Any]]) -> None:
    _invocation.reset(token)


def was_cold() -> bool:
    """Whether the invocation under way is the process's first."""
    return bool(_invocation.get().get("cold_start"))


def _dimensions(settings: Settings) -> dict[str, str]:
    dimensions = {"service": settings.powertools_service_name}
    if settings.stage:
        dimensions["Stage"] = settings.stage
    return dimensions


def metrics(settings: Settings) -> Any:
    """powertools' EMF metrics with the service and Stage dimensions and, on a cold start, a
    `ColdStart` count. Imported on first use: only the sweep, which emits many, loads powertools."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    emf = Metrics(namespace=settings.powertools_metrics_namespace, service=settings.powertools_service_name)
    if settings.stage:
        emf.set_default_dimensions(Stage=settings.stage)
    if was_cold():
        emf.add_metric(name="ColdStart", unit=MetricUnit.Count, value=1)
    return emf


def emit_metric(
    settings: Settings, name: str, value: float, unit: str = "Count", dimensions: dict[str, str] | None = None
) -> None:
    """One EMF line, written by hand (an API handler never loads powertools for a rare metric), with the
    service and Stage dimensions and any others given (a vantage's `Vantage`)."""
    if settings.powertools_metrics_disabled:
        return
    dimensions = {**_dimensions(settings), **(dimensions or {})}
    line = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": settings.powertools_metrics_namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        **dimensions,
        name: value,
    }
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
