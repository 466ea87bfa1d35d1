"""Request bodies at run time: validated by pydantic-core validators built from the schemas that
`api/requests.py` compiles at build time (`requests.schema.json`), one per body on first use, and
shaped into the arguments of the service's calls."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..observability import get_logger
from .errors import validation_details

logger = get_logger(__name__)
COMPILED = Path(__file__).with_name("requests.schema.json")


@cache
def _schemas() -> dict[str, Any]:
    with COMPILED.open(encoding="utf-8") as compiled:
        schemas: dict[str, Any] = json.load(compiled)
    return schemas


@cache
def _validator(body: str) -> Any:
    import pydantic_core

    schemas = _schemas()
    if schemas.get("pydanticCoreVersion") == pydantic_core.__version__:
        return pydantic_core.SchemaValidator(schemas[body])
    # A layer whose pydantic-core is not the one the file was compiled for: build the schema from the
    # declarations instead (pydantic's price at cold start, but never a schema the library misreads).
    from .requests import core_schema

    logger.warning("compiled request schemas do not match pydantic-core", extra={"body": body})
    return pydantic_core.SchemaValidator(core_schema(body))


def _timeout_below_interval(value: dict[str, Any]) -> None:
    config = value.get("config") or {}
    interval, timeout = (
        config.get("health_check_interval_seconds"),
        config.get("health_check_timeout_seconds"),
    )
    if interval is not None and timeout is not None and timeout >= interval > 1:
        message = "healthCheckTimeoutSeconds must be less than healthCheckIntervalSeconds"
        raise InvalidInput(
            "request body is invalid",
            details=[
                {"field": "config.healthCheckTimeoutSeconds", "message": message, "type": "value_error"}
            ],
        )


# Rules across fields, which a schema cannot state, by body.
CROSS_FIELD_RULES = {"ConfigRequest": _timeout_below_interval}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _nul_fields(value: Any, path: str = "") -> list[str]:
    """Where a string holds a NUL character (valid JSON as "\\u0000", refused by PostgreSQL's text)."""
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        fields = ((_camel(str(k)), v) for k, v in value.items())
        return [f for k, v in fields for f in _nul_fields(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [f for k, v in enumerate(value) for f in _nul_fields(v, f"{path}.{k}")]
    return []


def validate_body(body: str, data: bytes) -> Any:
    """The validated body (snake_case keys, defaults filled in), or InvalidInput with every problem."""
    from pydantic_core import ValidationError

    try:
        value = _validator(body).validate_json(data)
    except ValidationError as exc:
        raise InvalidInput(
            "request body is invalid", details=validation_details(exc.errors(include_url=False))
        ) from None
    if b"\\u0000" in data:  # JSON's only spelling of NUL: only such bodies are walked
        bad = _nul_fields(value)
        if bad:
            raise InvalidInput(
                "request body is invalid",
                details=[
                    {"field": f, "message": "must not contain NUL characters", "type": "string_nul"}
                    for f in bad
                ],
            )
    rule = CROSS_FIELD_RULES.get(body)
    if rule is not None:
        rule(value)
    return value


# Reported metric (API name) -> the short key the metrics statements read.
_METRIC_KEYS = {
    "cpu_percent": "cpu",
    "memory_percent": "mem",
    "request_rate": "rate",
    "average_latency_ms": "latency",
    "error_rate": "errors",
    "connection_count": "conns",
    "throughput_mbps": "mbps",
}


def metrics_row(reported: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A health report's metrics as the service takes them; None when nothing was reported."""
    values = {key: (reported or {}).get(name) for name, key in _METRIC_KEYS.items()}
    return values if any(v is not None for v in values.values()) else None


def provided(fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields a partial update sets: those given and not null (null keeps the stored value)."""
    return {name: value for name, value in (fields or {}).items() if value is not None}
