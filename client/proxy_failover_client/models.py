"""The API's answers and request bodies as types: generated from the OpenAPI document by
`python -m contract.openapi --write` (`make openapi`); do not edit by hand."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

AutoFailover = Literal["enabled", "held"]
CheckSource = Literal["probe", "report"]
CompletionStatus = Literal["completed", "failed"]
DecisionReason = Literal[
    "no_active_instance",
    "active_instance_healthy",
    "active_instance_unknown",
    "below_unhealthy_threshold",
    "auto_failover_disabled",
    "no_healthy_backup",
    "active_instance_unhealthy",
]
DegradedReason = Literal[
    "fewer_than_half_healthy",
    "no_active_instance",
    "active_in_maintenance",
    "active_unhealthy",
    "no_healthy_backup",
]
ErrorCode = Literal[
    "PROXY_FAILOVER_001",
    "PROXY_FAILOVER_002",
    "PROXY_FAILOVER_003",
    "PROXY_FAILOVER_004",
    "PROXY_FAILOVER_005",
    "PROXY_FAILOVER_007",
    "PROXY_FAILOVER_010",
    "PROXY_FAILOVER_011",
    "PROXY_FAILOVER_012",
    "PROXY_FAILOVER_013",
    "PROXY_FAILOVER_014",
    "PROXY_FAILOVER_016",
    "PROXY_FAILOVER_019",
    "PROXY_FAILOVER_020",
    "PROXY_FAILOVER_021",
    "PROXY_FAILOVER_022",
    "PROXY_FAILOVER_023",
    "PROXY_FAILOVER_024",
    "PROXY_FAILOVER_025",
    "PROXY_FAILOVER_026",
    "PROXY_FAILOVER_027",
    "PROXY_FAILOVER_028",
    "PROXY_FAILOVER_029",
    "PROXY_FAILOVER_030",
    "PROXY_FAILOVER_031",
    "PROXY_FAILOVER_032",
    "PROXY_FAILOVER_033",
]
EventStatus = Literal["in_progress", "completed", "failed"]
EventType = Literal["failover", "failback", "manual", "recovery", "maintenance", "drill"]
HealthStatus = Literal["unknown", "healthy", "unhealthy"]
LoadBalancingAlgorithm = Literal["round_robin", "least_connections", "weighted"]
RedundancyLevel = Literal["none", "single", "dual", "multi"]
Strategy = Literal["priority", "round_robin", "least_connections"]


AlgorithmChange = TypedDict(
    "AlgorithmChange", {"from": LoadBalancingAlgorithm | None, "to": LoadBalancingAlgorithm}
)


BooleanChange = TypedDict("BooleanChange", {"from": bool | None, "to": bool})


class CheckOut(TypedDict):
    """One recent check result of an instance: a probe (from `vantage`) or a report."""

    checkedAt: str
    source: CheckSource
    vantage: str | None
    result: HealthStatus
    latencyMs: float | None
    reason: str | None


class CompleteRequest(TypedDict):
    status: CompletionStatus
    errorMessage: NotRequired[str | None]
    durationMs: NotRequired[int | None]


class ConfigChanges(TypedDict):
    """The fields a change changed, each {from, to}; a field it left alone is absent."""

    failoverStrategy: NotRequired[StrategyChange | None]
    healthCheckIntervalSeconds: NotRequired[IntegerChange | None]
    healthCheckTimeoutSeconds: NotRequired[IntegerChange | None]
    unhealthyThreshold: NotRequired[IntegerChange | None]
    healthyThreshold: NotRequired[IntegerChange | None]
    maxRecoveryAttempts: NotRequired[IntegerChange | None]
    recoveryBackoffSeconds: NotRequired[IntegerChange | None]
    enableAutoFailover: NotRequired[BooleanChange | None]
    enableAutoRecovery: NotRequired[BooleanChange | None]
    enableLoadBalancing: NotRequired[BooleanChange | None]
    loadBalancingAlgorithm: NotRequired[AlgorithmChange | None]
    failbackHoldDownSeconds: NotRequired[IntegerChange | None]
    flapThreshold: NotRequired[IntegerChange | None]
    flapWindowSeconds: NotRequired[IntegerChange | None]
    reportTtlSeconds: NotRequired[IntegerChange | None]
    slowStartSeconds: NotRequired[IntegerChange | None]


class ConfigFields(TypedDict):
    """Only the fields given change; null means "keep the stored value"."""

    failoverStrategy: NotRequired[Strategy | None]
    healthCheckIntervalSeconds: NotRequired[int | None]
    healthCheckTimeoutSeconds: NotRequired[int | None]
    unhealthyThreshold: NotRequired[int | None]
    healthyThreshold: NotRequired[int | None]
    maxRecoveryAttempts: NotRequired[int | None]
    recoveryBackoffSeconds: NotRequired[int | None]
    enableAutoFailover: NotRequired[bool | None]
    enableAutoRecovery: NotRequired[bool | None]
    enableLoadBalancing: NotRequired[bool | None]
    loadBalancingAlgorithm: NotRequired[LoadBalancingAlgorithm | None]
    failbackHoldDownSeconds: NotRequired[int | None]
    flapThreshold: NotRequired[int | None]
    flapWindowSeconds: NotRequired[int | None]
    reportTtlSeconds: NotRequired[int | None]
    slowStartSeconds: NotRequired[int | None]


class ConfigOut(TypedDict):
    failoverStrategy: Strategy
    healthCheckIntervalSeconds: int
    healthCheckTimeoutSeconds: int
    unhealthyThreshold: int
    healthyThreshold: int
    maxRecoveryAttempts: int
    recoveryBackoffSeconds: int
    enableAutoFailover: bool
    enableAutoRecovery: bool
    enableLoadBalancing: bool
    loadBalancingAlgorithm: LoadBalancingAlgorithm
    failbackHoldDownSeconds: int
    flapThreshold: int
    flapWindowSeconds: int
    reportTtlSeconds: int | None
    slowStartSeconds: NotRequired[int | None]
    proxyId: str
    createdAt: str
    updatedAt: str


class ConfigRequest(TypedDict):
    proxyId: str
    config: NotRequired[ConfigFields]


class ConfigSnapshot(TypedDict):
    """Every field of the configuration as a version left it."""

    failoverStrategy: Strategy
    healthCheckIntervalSeconds: int
    healthCheckTimeoutSeconds: int
    unhealthyThreshold: int
    healthyThreshold: int
    maxRecoveryAttempts: int
    recoveryBackoffSeconds: int
    enableAutoFailover: bool
    enableAutoRecovery: bool
    enableLoadBalancing: bool
    loadBalancingAlgorithm: LoadBalancingAlgorithm
    failbackHoldDownSeconds: int
    flapThreshold: int
    flapWindowSeconds: int
    reportTtlSeconds: int | None
    slowStartSeconds: NotRequired[int | None]


class ConfigVersionOut(TypedDict):
    """The configuration after a change (every field), and the fields the change changed."""

    version: int
    config: ConfigSnapshot
    changes: ConfigChanges
    changedBy: str
    changedAt: str


class DecisionOut(TypedDict):
    proxyId: str
    shouldFailover: bool
    reason: DecisionReason
    activeInstanceId: str | None
    sourceInstanceId: NotRequired[str | None]
    targetInstanceId: NotRequired[str | None]
    strategy: NotRequired[Strategy | None]


class DrillRequest(TypedDict):
    """A rehearsal: a real switch, switched back by the scheduled run when `durationSeconds` are up."""

    proxyId: str
    targetInstanceId: NotRequired[str | None]
    durationSeconds: int
    reason: str


class DryRunOut(TypedDict):
    """What an execute with `dryRun: true` would have done; nothing was changed or published."""

    dryRun: bool
    eventType: EventType
    sourceInstanceId: str | None
    targetInstanceId: str


class ErrorBody(TypedDict):
    code: ErrorCode
    message: str
    statusCode: int
    details: NotRequired[list[ErrorDetail]]


class ErrorDetail(TypedDict):
    """One invalid field of a 400: where, what is wrong, and the kind of check"""

    field: str
    message: str
    type: str


class EvaluateRequest(TypedDict):
    proxyId: str


class EventOut(TypedDict):
    id: str
    proxyId: str
    eventType: EventType
    status: EventStatus
    sourceInstanceId: str | None
    targetInstanceId: str | None
    reason: str
    actor: str
    errorMessage: str | None
    durationMs: int | None
    startedAt: str
    completedAt: str | None


class ExecuteRequest(TypedDict):
    proxyId: str
    sourceInstanceId: str
    targetInstanceId: str
    reason: str
    force: NotRequired[bool]
    dryRun: NotRequired[bool]


class HealthMetrics(TypedDict):
    cpuPercent: NotRequired[float | None]
    memoryPercent: NotRequired[float | None]
    requestRate: NotRequired[float | None]
    averageLatencyMs: NotRequired[float | None]
    errorRate: NotRequired[float | None]
    connectionCount: NotRequired[int | None]
    throughputMbps: NotRequired[float | None]


class HealthReport(TypedDict):
    healthStatus: HealthStatus
    metrics: NotRequired[HealthMetrics | None]


class InstanceData(TypedDict):
    instanceName: str
    instanceType: NotRequired[str]
    priority: NotRequired[int]
    weight: NotRequired[int]
    healthCheckUrl: NotRequired[str | None]
    endpoint: NotRequired[str | None]
    probe: NotRequired[ProbeOptionsBody | None]


class InstanceOut(TypedDict):
    id: str
    proxyId: str
    instanceName: str
    instanceType: str
    priority: int
    weight: int
    healthCheckUrl: str | None
    healthStatus: HealthStatus
    consecutiveFailures: int
    consecutiveSuccesses: int
    lastHealthCheck: str | None
    lastStatusChange: str | None
    lastLatencyMs: NotRequired[float | None]
    connectionCount: int | None
    isActive: bool
    isFlapping: bool
    recoveryAttempts: int
    needsAttention: bool
    createdAt: str
    updatedAt: str
    endpoint: str | None
    probe: ProbeOut | None
    maintenance: MaintenanceOut | None
    vantages: list[InstanceVantageOut]


class InstancePatch(TypedDict):
    """Only the fields given change; a null healthCheckUrl, endpoint or probe clears it."""

    instanceName: NotRequired[str]
    instanceType: NotRequired[str]
    priority: NotRequired[int]
    weight: NotRequired[int]
    healthCheckUrl: NotRequired[str | None]
    endpoint: NotRequired[str | None]
    probe: NotRequired[ProbeOptionsBody | None]


class InstanceVantageOut(TypedDict):
    name: str
    status: HealthStatus
    consecutiveFailures: int
    consecutiveSuccesses: int
    checkedAt: str | None


IntegerChange = TypedDict("IntegerChange", {"from": int | None, "to": int | None})


class MaintenanceOut(TypedDict):
    until: str
    reason: str
    startedBy: str


class MaintenanceRequest(TypedDict):
    durationSeconds: int
    reason: str
    force: NotRequired[bool]


class ProbeOptionsBody(TypedDict):
    """How the sweep judges an HTTP(S) answer (the target policy applies whatever these say)."""

    expectedStatus: NotRequired[str]
    bodyContains: NotRequired[str | None]
    tlsVerify: NotRequired[bool]


class ProbeOut(TypedDict):
    expectedStatus: str
    bodyContains: str | None
    tlsVerify: bool


class ProxySummaryOut(TypedDict):
    """A proxy as the fleet list shows it: its owner, active instance, the instances' counts now, its
    stored posture (`none` and not degraded before its first instance) and its latest failover.
    """

    proxyId: str
    userId: str
    activeInstanceId: str | None
    activeInstanceName: str | None
    totalInstances: int
    healthyInstances: int
    instancesInMaintenance: int
    isDegraded: bool
    degradedReasons: list[DegradedReason]
    redundancyLevel: RedundancyLevel
    strategy: Strategy
    lastFailoverAt: str | None
    lastFailoverReason: str | None


RampOut = TypedDict("RampOut", {"from": float, "startsAt": str, "endsAt": str})


class RedundancyOut(TypedDict):
    proxyId: str
    totalInstances: int
    healthyInstances: int
    unhealthyInstances: int
    activeInstanceId: str | None
    backupInstanceIds: list[str]
    redundancyLevel: RedundancyLevel
    isDegraded: bool
    degradedReasons: list[DegradedReason]
    lastFailoverAt: str | None
    lastFailoverReason: str | None
    updatedAt: str


class RedundancyUpdate(TypedDict):
    """The seed's body. Counts and level are recomputed by the server; `activeInstanceId` switches."""

    activeInstanceId: NotRequired[str | None]
    lastFailoverReason: NotRequired[str | None]
    force: NotRequired[bool]
    totalInstances: NotRequired[int | None]
    healthyInstances: NotRequired[int | None]
    unhealthyInstances: NotRequired[int | None]
    backupInstanceIds: NotRequired[list[str] | None]
    redundancyLevel: NotRequired[RedundancyLevel | None]
    isDegraded: NotRequired[bool | None]
    lastFailoverAt: NotRequired[str | None]


class RegisterRequest(TypedDict):
    proxyId: str
    instanceData: InstanceData


class RemovedOut(TypedDict):
    """What a decommission removed, and what it kept until retention."""

    proxyId: str
    userId: str
    removedInstanceIds: list[str]
    removedConfig: bool
    keptEvents: int
    keptConfigVersions: int


class RouteOut(TypedDict):
    """The routing answer for the data plane."""

    proxyId: str
    activeInstanceId: str
    endpoint: str | None
    algorithm: LoadBalancingAlgorithm | None
    targets: list[RouteTargetOut]
    degraded: bool
    version: int


class RouteTargetOut(TypedDict):
    instanceId: str
    endpoint: str | None
    share: float
    ramp: RampOut | None


class SafetyOut(TypedDict):
    """The fleet's safety state: the emergency brake, and whether anything can see the fleet."""

    autoFailover: AutoFailover
    reason: str | None
    changedBy: str | None
    changedAt: str | None
    checksSuspended: bool
    vantages: list[VantageOut]


class SafetyUpdate(TypedDict):
    """The emergency brake: `held`, nothing switches by itself anywhere until it is `enabled` again."""

    autoFailover: AutoFailover
    reason: str


StrategyChange = TypedDict("StrategyChange", {"from": Strategy | None, "to": Strategy})


class VantageOut(TypedDict):
    """A vantage: when it last ran, whether its canaries all failed (`impaired`: its results are
    ignored), whether it stopped running (`absent`: no run for two dispatch periods).
    """

    name: str
    lastRunAt: str | None
    impaired: bool
    absent: bool


__all__ = [
    "AlgorithmChange",
    "AutoFailover",
    "BooleanChange",
    "CheckOut",
    "CheckSource",
    "CompleteRequest",
    "CompletionStatus",
    "ConfigChanges",
    "ConfigFields",
    "ConfigOut",
    "ConfigRequest",
    "ConfigSnapshot",
    "ConfigVersionOut",
    "DecisionOut",
    "DecisionReason",
    "DegradedReason",
    "DrillRequest",
    "DryRunOut",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "EvaluateRequest",
    "EventOut",
    "EventStatus",
    "EventType",
    "ExecuteRequest",
    "HealthMetrics",
    "HealthReport",
    "HealthStatus",
    "InstanceData",
    "InstanceOut",
    "InstancePatch",
    "InstanceVantageOut",
    "IntegerChange",
    "LoadBalancingAlgorithm",
    "MaintenanceOut",
    "MaintenanceRequest",
    "ProbeOptionsBody",
    "ProbeOut",
    "ProxySummaryOut",
    "RampOut",
    "RedundancyLevel",
    "RedundancyOut",
    "RedundancyUpdate",
    "RegisterRequest",
    "RemovedOut",
    "RouteOut",
    "RouteTargetOut",
    "SafetyOut",
    "SafetyUpdate",
    "Strategy",
    "StrategyChange",
    "VantageOut",
]
