"""Request bodies at run time: validated by pydantic-core validators built from the schemas that
`contract/request_bodies.py` declares with pydantic and compiles at build time (`body_schemas.json`),
one validator per body on first use; and shaped into the arguments of the service's calls. The layer
ships pydantic-core only: pydantic's import, its model classes and the first schema build would cost
a body handler ~120 ms of cold start."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from .errors import validation_details

if TYPE_CHECKING:
    from ..domain.models import MetricsSample

COMPILED = Path(__file__).with_name("body_schemas.json")


@cache
def _schemas() -> dict[str, Any]:
    with COMPILED.open(encoding="utf-8") as compiled:
        schemas: dict[str, Any] = json.load(compiled)
    return schemas


COMPILED_WITH = "pydanticCoreVersion"


_EXTENSION = "pydantic_core._pydantic_core"


@cache
def _core() -> Any:
    """pydantic-core's compiled extension, without the package's `__init__`: that one imports its
    typing declarations (`core_schema`, `typing_extensions`), ~80 M instructions of a cold start that
    validating never uses. Registered under its own name, so a later `import pydantic_core` (tests,
    tools) finds it and does not load it twice."""
    import sys

    loaded = sys.modules.get(_EXTENSION)
    if loaded is not None:
        return loaded
    import importlib.machinery
    import importlib.util
    from pathlib import Path

    package = importlib.util.find_spec("pydantic_core")  # finds, does not run, the package
    folders = package.submodule_search_locations if package else None
    for folder in folders or ():
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"_pydantic_core{suffix}"
            spec = importlib.util.spec_from_file_location(_EXTENSION, path) if path.exists() else None
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                sys.modules[_EXTENSION] = module
                spec.loader.exec_module(module)
                return module
    import pydantic_core  # an unusual installation: the ordinary way

    return pydantic_core


@cache
def _validator(body: str) -> Any:
    core = _core()
    schemas = _schemas()
    if schemas.get(COMPILED_WITH) != core.__version__:
        # The layer's build pins the pydantic-core the file names (shared/requirements.txt, held to it
        # by a test): another one could read a schema differently. Refuse rather than guess.
        raise RuntimeError(
            f"body_schemas.json was compiled for pydantic-core {schemas.get(COMPILED_WITH)},"
            f" this is {core.__version__}: rebuild the layer"
        )
    return core.SchemaValidator(schemas[body])


def _timeout_below_interval(value: dict[str, Any]) -> None:
    """The rule across two fields, when a request gives both (the service checks it again on the
    configuration that results, stored fields included)."""
    from ..domain.models import TIMEOUT_RULE, timeout_fits

    config = value.get("config") or {}
    interval, timeout = (
        config.get("health_check_interval_seconds"),
        config.get("health_check_timeout_seconds"),
    )
    if interval is not None and timeout is not None and not timeout_fits(interval, timeout):
        raise InvalidInput(
            "request body is invalid",
            details=[
                {"field": "config.healthCheckTimeoutSeconds", "message": TIMEOUT_RULE, "type": "value_error"}
            ],
        )


def _status_ranges_ascend(value: dict[str, Any]) -> None:
    probe = value.get("probe") if "probe" in value else (value.get("instance_data") or {}).get("probe")
    for part in ((probe or {}).get("expected_status") or "").split(","):
        low, _, high = part.partition("-")
        if high and int(high) < int(low):
            message = f"the range {part} runs backwards"
            raise InvalidInput(
                "request body is invalid",
                details=[{"field": "probe.expectedStatus", "message": message, "type": "value_error"}],
            )


def _patch_changes_something(value: dict[str, Any]) -> None:
    if not value:
        raise InvalidInput(
            "request body is invalid",
            details=[{"field": "body", "message": "give at least one field to change", "type": "missing"}],
        )
    _status_ranges_ascend(value)


# Rules across fields, which a schema cannot state, by body.
CROSS_FIELD_RULES: dict[str, Any] = {
    "ConfigRequest": _timeout_below_interval,
    "RegisterRequest": _status_ranges_ascend,
    "InstancePatch": _patch_changes_something,
}


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
    validator = _validator(body)
    try:
        value = validator.validate_json(data)
    except _core().ValidationError as exc:
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


def metrics_sample(reported: Mapping[str, Any] | None) -> MetricsSample | None:
    """A health report's metrics (validated, in the domain's field names) as the domain's sample; None
    when nothing was reported."""
    from ..domain.models import MetricsSample

    values = {name: (reported or {}).get(name) for name in MetricsSample._fields}
    return MetricsSample(**values) if any(v is not None for v in values.values()) else None


# Fields whose null is a value (their default: off) rather than "keep the stored value".
NULL_MEANS_OFF = frozenset({"report_ttl_seconds", "slow_start_seconds"})


def provided(fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields a partial update sets: those given and not null (null keeps the stored value),
    except the fields for which null means off."""
    return {
        name: value for name, value in (fields or {}).items() if value is not None or name in NULL_MEANS_OFF
    }


def idempotency_key(header: str | None) -> str | None:
    """An Idempotency-Key header: 1-128 visible ASCII characters, or InvalidInput."""
    if header is None:
        return None
    if not 1 <= len(header) <= 128 or not all("!" <= c <= "~" for c in header):
        raise InvalidInput(
            "the Idempotency-Key header must be 1-128 visible ASCII characters",
            details=[
                {"field": "Idempotency-Key", "message": "1-128 visible ASCII characters", "type": "header"}
            ],
        )
    return header
