"""Request bodies: camelCase on the wire, strict JSON types, unknown fields refused.

Declared here with pydantic, compiled at build time: `compile_schemas()` turns each body into a
pydantic-core schema, committed as `shared/proxy_failover/api/body_schemas.json` (`make openapi`
writes it, `make lint` checks it is fresh). At run time the layer's `api/bodies.py` builds
pydantic-core validators from that file, so a handler never imports pydantic: its import, the model
classes and the first schema build cost a body handler ~120 ms of cold start, pydantic-core's
validator ~1 ms. The build-time half of the layer's body validation: the OpenAPI generator, the tests
and the handlers' type checks import it; the layer does not ship it.

Bodies are TypedDicts: validated input arrives as a dict with snake_case keys (the types below).
Fields with a default are always present after validation.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired
from uuid import UUID

from proxy_failover.api.bodies import COMPILED_WITH
from proxy_failover.domain.models import HealthStatus, LoadBalancingAlgorithm, Strategy
from proxy_failover.ids import PROXY_ID_PATTERN
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, with_config
from pydantic.alias_generators import to_camel
from typing_extensions import TypedDict


def _title(name: str, _: Any) -> str:
    return name.replace("_", " ").title()


# Strict JSON types: numbers are numbers (12 and 12.0 for a float; never "12", never true), booleans
# are booleans, and only the camelCase names are read (a snake_case key is an unknown field).
STRICT = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True, field_title_generator=_title)

ProxyId = Annotated[str, StringConstraints(pattern=PROXY_ID_PATTERN)]
Seconds = Annotated[int, Field(ge=1, le=86400)]
Count = Annotated[int, Field(ge=1, le=1000)]
Float = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
# UUIDs and times arrive as strings: parsed from them, still refusing numbers and booleans.
Uuid = Annotated[UUID, Field(strict=False)]
Timestamp = Annotated[datetime, Field(strict=False)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]

# The wire names of the domain's enums (a unit test holds them equal to the enums).
StrategyName = Literal["priority", "round_robin", "least_connections"]
AlgorithmName = Literal["round_robin", "least_connections", "weighted"]
HealthStatusName = Literal["unknown", "healthy", "unhealthy"]
ENUM_NAMES = {StrategyName: Strategy, AlgorithmName: LoadBalancingAlgorithm, HealthStatusName: HealthStatus}


@with_config(STRICT)
class ConfigFields(TypedDict, total=False):
    """Only the fields given change; null means "keep the stored value"."""

    failover_strategy: StrategyName | None
    health_check_interval_seconds: Seconds | None
    health_check_timeout_seconds: Seconds | None
    unhealthy_threshold: Count | None
    healthy_threshold: Count | None
    max_recovery_attempts: Count | None
    recovery_backoff_seconds: Seconds | None
    enable_auto_failover: bool | None
    enable_auto_recovery: bool | None
    enable_load_balancing: bool | None
    load_balancing_algorithm: AlgorithmName | None
    failback_hold_down_seconds: Annotated[int, Field(ge=0, le=86400)] | None
    flap_threshold: Annotated[int, Field(ge=2, le=1000)] | None
    flap_window_seconds: Seconds | None
    # null turns it off (its default); absent keeps the stored value
    report_ttl_seconds: Seconds | None
    # with load balancing: a new or returning target's share ramps from 10% over this long; null: off
    slow_start_seconds: Annotated[int, Field(ge=1, le=3600)] | None


@with_config(STRICT)
class ConfigRequest(TypedDict):
    proxy_id: ProxyId
    config: NotRequired[ConfigFields]


# Codes and ranges of HTTP statuses that count as healthy: "200-299,304".
StatusRanges = Annotated[
    str,
    StringConstraints(
        min_length=3,
        max_length=200,
        pattern=r"^[1-5][0-9]{2}(-[1-5][0-9]{2})?(,[1-5][0-9]{2}(-[1-5][0-9]{2})?)*$",
    ),
]


@with_config(STRICT)
class ProbeOptionsBody(TypedDict):
    """How the sweep judges an HTTP(S) answer (the target policy applies whatever these say)."""

    expected_status: Annotated[StatusRanges, Field(default="200-399")]
    body_contains: Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=256)] | None, Field(default=None)
    ]
    tls_verify: Annotated[bool, Field(default=True)]


Endpoint = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
InstanceName = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
InstanceType = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Priority = Annotated[int, Field(ge=0, le=1_000_000)]


@with_config(STRICT)
class InstanceData(TypedDict):
    instance_name: InstanceName
    instance_type: Annotated[InstanceType, Field(default="standard")]
    priority: Annotated[Priority, Field(default=100)]
    weight: Annotated[Priority, Field(default=100)]
    health_check_url: Annotated[Url | None, Field(default=None)]
    endpoint: Annotated[Endpoint | None, Field(default=None)]
    probe: Annotated[ProbeOptionsBody | None, Field(default=None)]


@with_config(STRICT)
class InstancePatch(TypedDict, total=False):
    """Only the fields given change; a null healthCheckUrl, endpoint or probe clears it."""

    instance_name: InstanceName
    instance_type: InstanceType
    priority: Priority
    weight: Priority
    health_check_url: Url | None
    endpoint: Endpoint | None
    probe: ProbeOptionsBody | None


@with_config(STRICT)
class MaintenanceRequest(TypedDict):
    duration_seconds: Annotated[int, Field(ge=60, le=604_800)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
    force: Annotated[bool, Field(default=False)]


@with_config(STRICT)
class RegisterRequest(TypedDict):
    proxy_id: ProxyId
    instance_data: InstanceData


@with_config(STRICT)
class HealthMetrics(TypedDict, total=False):
    cpu_percent: Percent | None
    memory_percent: Percent | None
    request_rate: Float | None
    average_latency_ms: Float | None
    error_rate: Float | None
    connection_count: Annotated[int, Field(ge=0, le=1_000_000_000)] | None
    throughput_mbps: Float | None


@with_config(STRICT)
class HealthReport(TypedDict):
    health_status: HealthStatusName
    metrics: NotRequired[HealthMetrics | None]


@with_config(STRICT)
class EvaluateRequest(TypedDict):
    proxy_id: ProxyId


@with_config(STRICT)
class ExecuteRequest(TypedDict):
    proxy_id: ProxyId
    source_instance_id: Uuid
    target_instance_id: Uuid
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
    force: Annotated[bool, Field(default=False)]
    # Answer as the real call would (the same checks, under the same lock), change and publish nothing.
    dry_run: Annotated[bool, Field(default=False)]


@with_config(STRICT)
class DrillRequest(TypedDict):
    """A rehearsal: a real switch, switched back by the scheduled run when `durationSeconds` are up."""

    proxy_id: ProxyId
    # absent: the instance the proxy's strategy would fail over to
    target_instance_id: NotRequired[Uuid | None]
    duration_seconds: Annotated[int, Field(ge=10, le=3600)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


@with_config(STRICT)
class CompleteRequest(TypedDict):
    status: Literal["completed", "failed"]
    error_message: NotRequired[Annotated[str, StringConstraints(max_length=4000)] | None]
    duration_ms: NotRequired[Annotated[int, Field(ge=0, le=2_147_483_647)] | None]


@with_config(STRICT)
class RedundancyUpdate(TypedDict, total=False):
    """The seed's body. Counts and level are recomputed by the server; `activeInstanceId` switches."""

    active_instance_id: Uuid | None
    last_failover_reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None
    force: bool
    total_instances: Annotated[int, Field(ge=0)] | None
    healthy_instances: Annotated[int, Field(ge=0)] | None
    unhealthy_instances: Annotated[int, Field(ge=0)] | None
    backup_instance_ids: list[Uuid] | None
    redundancy_level: Literal["none", "single", "dual", "multi"] | None
    is_degraded: bool | None
    last_failover_at: Timestamp | None


@with_config(STRICT)
class SafetyUpdate(TypedDict):
    """The emergency brake: `held`, nothing switches by itself anywhere until it is `enabled` again."""

    auto_failover: Literal["enabled", "held"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


BODIES: dict[str, Any] = {
    body.__name__: body
    for body in (
        ConfigRequest,
        RegisterRequest,
        HealthReport,
        EvaluateRequest,
        ExecuteRequest,
        CompleteRequest,
        RedundancyUpdate,
        InstancePatch,
        MaintenanceRequest,
        DrillRequest,
        SafetyUpdate,
    )
}


def _portable(node: Any, refs: dict[str, str]) -> Any:
    """A core schema as plain JSON: pydantic's metadata (JSON-schema hooks) dropped, definition refs
    (which embed object ids) renamed after their types so the compiled file is stable."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in {"metadata", "cls"}:
                continue
            if key in {"ref", "schema_ref"} and isinstance(value, str):
                value = refs.setdefault(value, value.split(":")[0].rsplit(".", 1)[-1])
            out[key] = _portable(value, refs)
        return out
    if isinstance(node, list | tuple):
        return [_portable(value, refs) for value in node]
    return node


def core_schema(body: str) -> dict[str, Any]:
    """A body's pydantic-core schema as plain JSON."""
    schema: dict[str, Any] = _portable(TypeAdapter(BODIES[body]).core_schema, {})
    return schema


def compile_schemas() -> str:
    """Every body's pydantic-core schema, as the JSON document `api/bodies.py` loads, with the
    pydantic-core version that reads it."""
    from pydantic_core import __version__ as core_version

    compiled: dict[str, Any] = {COMPILED_WITH: core_version}
    compiled.update((name, core_schema(name)) for name in BODIES)
    return json.dumps(compiled, indent=1) + "\n"  # field order kept: errors come in declaration order


def json_schemas(ref_template: str) -> dict[str, Any]:
    """JSON Schema of every body and the types they use, for the OpenAPI document."""
    _, definitions = TypeAdapter.json_schemas(
        [(name, "validation", TypeAdapter(body)) for name, body in BODIES.items()],
        by_alias=True,
        ref_template=ref_template,
    )
    return dict(definitions.get("$defs", {}))
