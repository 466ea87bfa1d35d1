"""Response bodies as documented in the OpenAPI document (camelCase). Handlers serialise with the
plain functions of `views.py`; `tests/integration/test_views.py` holds every view to these schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from proxy_failover.domain.decisions import DecisionReason
from proxy_failover.domain.models import (
    EventStatus,
    EventType,
    HealthStatus,
    LoadBalancingAlgorithm,
    Strategy,
)
from proxy_failover.domain.redundancy import DegradedReason, RedundancyLevel
from proxy_failover.domain.safety import AutoFailover
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Out(BaseModel):
    """Output: read from snake_case rows, written in camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)


class InstanceOut(Out):
    id: UUID
    proxy_id: str
    instance_name: str
    instance_type: str
    priority: int
    weight: int
    health_check_url: str | None
    health_status: HealthStatus
    consecutive_failures: int
    consecutive_successes: int
    last_health_check: datetime | None
    last_status_change: datetime | None
    last_latency_ms: float | None = None
    connection_count: int | None
    is_active: bool
    is_flapping: bool
    recovery_attempts: int
    needs_attention: bool
    created_at: datetime
    updated_at: datetime
    endpoint: str | None
    probe: ProbeOut | None
    maintenance: MaintenanceOut | None
    # each vantage's own view of it (probes only): its verdict and counters, when it last checked
    vantages: list[InstanceVantageOut]


class InstanceVantageOut(Out):
    name: str
    status: HealthStatus
    consecutive_failures: int
    consecutive_successes: int
    checked_at: datetime | None


class ProbeOut(Out):
    expected_status: str
    body_contains: str | None
    tls_verify: bool


class MaintenanceOut(Out):
    until: datetime
    reason: str
    started_by: str


class RampOut(Out):
    """Slow start: the target's share of the moment grows linearly from `from` of its share at
    `startsAt` to all of it at `endsAt` (each target's, divided by their sum)."""

    from_: float = Field(alias="from")
    starts_at: datetime
    ends_at: datetime


class RouteTargetOut(Out):
    instance_id: UUID
    endpoint: str | None
    share: float
    # while the target's slow start lasts (null otherwise)
    ramp: RampOut | None


class RouteOut(Out):
    """The routing answer for the data plane."""

    proxy_id: str
    active_instance_id: UUID
    endpoint: str | None
    algorithm: LoadBalancingAlgorithm | None
    targets: list[RouteTargetOut]
    degraded: bool
    # grows with every change of the answer, never goes back (route_changed carries the same)
    version: int


class DecisionOut(Out):
    proxy_id: str
    should_failover: bool
    reason: DecisionReason
    active_instance_id: UUID | None
    source_instance_id: UUID | None = None
    target_instance_id: UUID | None = None
    strategy: Strategy | None = None


class EventOut(Out):
    id: UUID
    proxy_id: str
    event_type: EventType
    status: EventStatus
    source_instance_id: UUID | None
    target_instance_id: UUID | None
    reason: str
    actor: str
    error_message: str | None
    duration_ms: int | None
    started_at: datetime
    completed_at: datetime | None


class DryRunOut(Out):
    """What an execute with `dryRun: true` would have done; nothing was changed or published."""

    dry_run: bool
    event_type: EventType
    source_instance_id: UUID | None
    target_instance_id: UUID


class IntegerChange(Out):
    """A changed number: its value before (null in the first version) and after (null: off)."""

    from_: int | None = Field(alias="from")
    to: int | None


class BooleanChange(Out):
    from_: bool | None = Field(alias="from")
    to: bool


class StrategyChange(Out):
    from_: Strategy | None = Field(alias="from")
    to: Strategy


class AlgorithmChange(Out):
    from_: LoadBalancingAlgorithm | None = Field(alias="from")
    to: LoadBalancingAlgorithm


class ConfigChanges(Out):
    """The fields a change changed, each {from, to}; a field it left alone is absent."""

    failover_strategy: StrategyChange | None = None
    health_check_interval_seconds: IntegerChange | None = None
    health_check_timeout_seconds: IntegerChange | None = None
    unhealthy_threshold: IntegerChange | None = None
    healthy_threshold: IntegerChange | None = None
    max_recovery_attempts: IntegerChange | None = None
    recovery_backoff_seconds: IntegerChange | None = None
    enable_auto_failover: BooleanChange | None = None
    enable_auto_recovery: BooleanChange | None = None
    enable_load_balancing: BooleanChange | None = None
    load_balancing_algorithm: AlgorithmChange | None = None
    failback_hold_down_seconds: IntegerChange | None = None
    flap_threshold: IntegerChange | None = None
    flap_window_seconds: IntegerChange | None = None
    report_ttl_seconds: IntegerChange | None = None
    slow_start_seconds: IntegerChange | None = None


class ConfigSnapshot(Out):
    """Every field of the configuration as a version left it."""

    failover_strategy: Strategy
    health_check_interval_seconds: int
    health_check_timeout_seconds: int
    unhealthy_threshold: int
    healthy_threshold: int
    max_recovery_attempts: int
    recovery_backoff_seconds: int
    enable_auto_failover: bool
    enable_auto_recovery: bool
    enable_load_balancing: bool
    load_balancing_algorithm: LoadBalancingAlgorithm
    failback_hold_down_seconds: int
    flap_threshold: int
    flap_window_seconds: int
    report_ttl_seconds: int | None
    slow_start_seconds: int | None = None


class ConfigOut(ConfigSnapshot):
    proxy_id: str
    created_at: datetime
    updated_at: datetime


class ConfigVersionOut(Out):
    """The configuration after a change (every field), and the fields the change changed."""

    version: int
    config: ConfigSnapshot
    changes: ConfigChanges
    changed_by: str
    changed_at: datetime


class RedundancyOut(Out):
    proxy_id: str
    total_instances: int
    healthy_instances: int
    unhealthy_instances: int
    active_instance_id: UUID | None
    backup_instance_ids: list[UUID]
    redundancy_level: RedundancyLevel
    is_degraded: bool
    degraded_reasons: list[DegradedReason]
    last_failover_at: datetime | None
    last_failover_reason: str | None
    updated_at: datetime


class VantageOut(Out):
    """A vantage: when it last ran, whether its canaries all failed (`impaired`: its results are
    ignored), whether it stopped running (`absent`: no run for two dispatch periods)."""

    name: str
    last_run_at: datetime | None
    impaired: bool
    absent: bool


class SafetyOut(Out):
    """The fleet's safety state: the emergency brake, and whether anything can see the fleet."""

    auto_failover: AutoFailover
    reason: str | None
    changed_by: str | None
    changed_at: datetime | None
    # no vantage can see (every one impaired or absent): no instance's status moves from probes
    checks_suspended: bool
    vantages: list[VantageOut]


class ProxySummaryOut(Out):
    """A proxy as the fleet list shows it: its owner, active instance, the instances' counts now, its
    stored posture (`none` and not degraded before its first instance) and its latest failover."""

    proxy_id: str
    user_id: str
    active_instance_id: UUID | None
    active_instance_name: str | None
    total_instances: int
    healthy_instances: int
    instances_in_maintenance: int
    is_degraded: bool
    degraded_reasons: list[DegradedReason]
    redundancy_level: RedundancyLevel
    strategy: Strategy
    last_failover_at: datetime | None
    last_failover_reason: str | None


class RemovedOut(Out):
    """What a decommission removed, and what it kept until retention."""

    proxy_id: str
    user_id: str
    removed_instance_ids: list[UUID]
    removed_config: bool
    kept_events: int
    kept_config_versions: int


class CheckSource(StrEnum):
    PROBE = "probe"
    REPORT = "report"


class CheckOut(Out):
    """One recent check result of an instance: a probe (from `vantage`) or a report."""

    checked_at: datetime
    source: CheckSource
    vantage: str | None
    result: HealthStatus
    latency_ms: float | None
    reason: str | None
