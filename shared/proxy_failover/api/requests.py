"""Request bodies, camelCase on the wire, strict JSON types, unknown fields refused.

Only handlers that take a body import this module (and with it pydantic); it is built lazily.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from ..domain.models import HealthStatus, LoadBalancingAlgorithm, Strategy

ProxyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,255}$")]
Seconds = Annotated[int, Field(ge=1, le=86400)]
Count = Annotated[int, Field(ge=1, le=1000)]
Float = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class Body(BaseModel):
    """Input: strict JSON types, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True, defer_build=True
    )


class ConfigFields(Body):
    failover_strategy: Strategy | None = None
    health_check_interval_seconds: Seconds | None = None
    health_check_timeout_seconds: Seconds | None = None
    unhealthy_threshold: Count | None = None
    healthy_threshold: Count | None = None
    max_recovery_attempts: Count | None = None
    recovery_backoff_seconds: Seconds | None = None
    enable_auto_failover: bool | None = None
    enable_auto_recovery: bool | None = None
    enable_load_balancing: bool | None = None
    load_balancing_algorithm: LoadBalancingAlgorithm | None = None
    failback_hold_down_seconds: Annotated[int, Field(ge=0, le=86400)] | None = None
    flap_threshold: Annotated[int, Field(ge=2, le=1000)] | None = None
    flap_window_seconds: Seconds | None = None

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> "ConfigFields":
        interval, timeout = self.health_check_interval_seconds, self.health_check_timeout_seconds
        if interval is not None and timeout is not None and timeout >= interval > 1:
            raise ValueError("healthCheckTimeoutSeconds must be less than healthCheckIntervalSeconds")
        return self

    def provided(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude_none=True)


class ConfigRequest(Body):
    proxy_id: ProxyId
    config: ConfigFields = Field(default_factory=ConfigFields)


class InstanceData(Body):
    instance_name: Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
    instance_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "standard"
    priority: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    weight: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    health_check_url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None


class RegisterRequest(Body):
    proxy_id: ProxyId
    instance_data: InstanceData


class HealthMetrics(Body):
    model_config = ConfigDict(strict=False)  # JSON numbers: 12 and 12.0 are both fine

    cpu_percent: Percent | None = None
    memory_percent: Percent | None = None
    request_rate: Float | None = None
    average_latency_ms: Float | None = None
    error_rate: Float | None = None
    connection_count: Annotated[int, Field(ge=0, le=1_000_000_000)] | None = None
    throughput_mbps: Float | None = None

    def as_row(self) -> dict[str, Any] | None:
        values = {
            "cpu": self.cpu_percent,
            "mem": self.memory_percent,
            "rate": self.request_rate,
            "latency": self.average_latency_ms,
            "errors": self.error_rate,
            "conns": self.connection_count,
            "mbps": self.throughput_mbps,
        }
        return values if any(v is not None for v in values.values()) else None


class HealthReport(Body):
    health_status: HealthStatus
    metrics: HealthMetrics | None = None


class EvaluateRequest(Body):
    proxy_id: ProxyId


class ExecuteRequest(Body):
    proxy_id: ProxyId
    source_instance_id: Annotated[UUID, Field(strict=False)]
    target_instance_id: Annotated[UUID, Field(strict=False)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
    force: bool = False


class CompleteRequest(Body):
    status: Literal["completed", "failed"]
    error_message: Annotated[str, StringConstraints(max_length=4000)] | None = None
    duration_ms: Annotated[int, Field(ge=0, le=2_147_483_647)] | None = None


class RedundancyUpdate(Body):
    """The seed's body. Counts and level are recomputed by the server; `activeInstanceId` switches."""

    model_config = ConfigDict(strict=False)

    active_instance_id: UUID | None = None
    last_failover_reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    force: bool = False
    total_instances: Annotated[int, Field(ge=0)] | None = None
    healthy_instances: Annotated[int, Field(ge=0)] | None = None
    unhealthy_instances: Annotated[int, Field(ge=0)] | None = None
    backup_instance_ids: list[UUID] | None = None
    redundancy_level: Literal["none", "single", "dual", "multi"] | None = None
    is_degraded: bool | None = None
    last_failover_at: datetime | None = None
