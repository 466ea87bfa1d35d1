"""Value types of the domain. Immutable; transitions return new values."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class HealthStatus(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class Strategy(StrEnum):
    PRIORITY = "priority"
    ROUND_ROBIN = "round_robin"
    LEAST_CONNECTIONS = "least_connections"


class LoadBalancingAlgorithm(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_CONNECTIONS = "least_connections"
    WEIGHTED = "weighted"


class EventType(StrEnum):
    FAILOVER = "failover"
    FAILBACK = "failback"
    MANUAL = "manual"
    RECOVERY = "recovery"
    MAINTENANCE = "maintenance"  # the proxy moved off an instance going into maintenance
    DRILL = "drill"  # a rehearsal: a real switch, switched back when its time is up


class EventStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


SYSTEM_ACTOR = "system"


def timeout_fits(interval_seconds: int, timeout_seconds: int) -> bool:
    """A check must end before the next is due; a 1 s interval may have a 1 s timeout (the probe then
    stops at 90% of the interval). The migration's CHECK `timeout_below_interval` says the same (a
    test holds them together)."""
    return timeout_seconds < interval_seconds or interval_seconds == timeout_seconds == 1


TIMEOUT_RULE = "healthCheckTimeoutSeconds must be less than healthCheckIntervalSeconds (or both 1)"


class FailoverConfig(NamedTuple):
    """Per-proxy settings. Defaults are the contract's; the last three are ours (documented in README).
    The store's SQL reads these defaults from here for proxies without a stored config."""

    failover_strategy: Strategy = Strategy.PRIORITY
    health_check_interval_seconds: int = 30
    health_check_timeout_seconds: int = 5
    unhealthy_threshold: int = 3
    healthy_threshold: int = 2
    max_recovery_attempts: int = 3
    recovery_backoff_seconds: int = 5
    enable_auto_failover: bool = True
    enable_auto_recovery: bool = True
    enable_load_balancing: bool = False
    load_balancing_algorithm: LoadBalancingAlgorithm = LoadBalancingAlgorithm.ROUND_ROBIN
    # A better instance must have been healthy this long before traffic moves back to it.
    failback_hold_down_seconds: int = 60
    # An instance that changes state this many times within the window is flapping.
    flap_threshold: int = 4
    flap_window_seconds: int = 300
    # An instance without a check result this long gets a failed check each interval (None: off).
    report_ttl_seconds: int | None = None
    # With load balancing: an instance that becomes a target again ramps from 10% of its share to
    # all of it over this long (None: off).
    slow_start_seconds: int | None = None


class ProbeOptions(NamedTuple):
    """How the sweep judges an HTTP(S) answer: its status within `expected_status` (codes and ranges,
    "200-299,304"), its first 64 KiB containing `body_contains`, the certificate verified or not."""

    expected_status: str = "200-399"
    body_contains: str | None = None
    tls_verify: bool = True

    def accepts(self, status: int) -> bool:
        for part in self.expected_status.split(","):
            low, _, high = part.partition("-")
            if int(low) <= status <= int(high or low):
                return True
        return False


class Maintenance(NamedTuple):
    """An instance taken out of rotation until `until` (then the scheduled run ends it)."""

    until: datetime
    reason: str
    started_by: str


# The check history keeps this many results per instance and vantage (and as many of its reports):
# each is written to a slot of a ring, so the history never grows past it.
CHECK_HISTORY = 100


class VantageCount(NamedTuple):
    """One vantage's own rise/fall of an instance: its counters, its verdict and when it last checked."""

    vantage: str
    failures: int = 0
    successes: int = 0
    verdict: HealthStatus = HealthStatus.UNKNOWN
    checked_at: datetime | None = None
    # results of this vantage recorded in the instance's check history: the next goes to slot
    # `recorded % CHECK_HISTORY` of its ring
    recorded: int = 0


class Instance(NamedTuple):
    id: str
    proxy_id: str
    name: str
    priority: int = 100
    weight: int = 100
    created_at: datetime | None = None
    health_check_url: str | None = None
    instance_type: str = "standard"
    updated_at: datetime | None = None
    endpoint: str | None = None  # where the data plane sends traffic, as given
    probe: ProbeOptions | None = None
    maintenance: Maintenance | None = None
    # The latest real check result (probe or report); None until the first.
    last_result_at: datetime | None = None
    health_status: HealthStatus = HealthStatus.UNKNOWN
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_health_check: datetime | None = None
    last_status_change: datetime | None = None
    connection_count: int | None = None
    last_latency_ms: float | None = None
    # Times of recent status changes, oldest first, trimmed to the flap window.
    status_changes: tuple[datetime, ...] = ()
    is_flapping: bool = False
    recovery_attempts: int = 0
    next_recovery_at: datetime | None = None
    needs_attention: bool = False
    # The incident its notifications share: opened when it last turned unhealthy.
    incident_id: str | None = None
    # Each vantage's own rise/fall of the instance (probes only; reports feed the instance directly).
    vantages: tuple[VantageCount, ...] = ()
    # reports recorded in the check history (their ring is the reporters', apart from the vantages')
    reports_recorded: int = 0

    @property
    def in_maintenance(self) -> bool:
        """In maintenance now: the engine ends it when `until` passes (`domain.maintenance`)."""
        return self.maintenance is not None

    @property
    def list_key(self) -> tuple[int, int, datetime | str, str]:
        """The contract's list order: priority asc, weight desc, then registration order."""
        return (self.priority, -self.weight, self.created_at or "", self.id)


class Drill(NamedTuple):
    """A drill in progress on a proxy: its ledger event, when it ends, and the instance to go back to."""

    event_id: str
    until: datetime
    return_to: str


class Transition(NamedTuple):
    """A status change of one instance, produced by the health state machine."""

    instance_id: str
    previous: HealthStatus
    current: HealthStatus
    at: datetime
    started_flapping: bool = False
    reason: str | None = None  # why the check failed, when the check says (report_ttl_expired)


class Switch(NamedTuple):
    """A change of the active instance, and why."""

    event_type: EventType
    source_instance_id: str | None
    target_instance_id: str
    reason: str


class Redundancy(NamedTuple):
    total_instances: int
    healthy_instances: int
    unhealthy_instances: int
    active_instance_id: str | None
    backup_instance_ids: tuple[str, ...]
    redundancy_level: str
    is_degraded: bool
    degraded_reasons: tuple[str, ...] = ()


class MetricsSample(NamedTuple):
    """What a reporter measured with a health report (every field optional); `connection_count` feeds
    least-connections."""

    cpu_percent: float | None = None
    memory_percent: float | None = None
    request_rate: float | None = None
    average_latency_ms: float | None = None
    error_rate: float | None = None
    connection_count: int | None = None
    throughput_mbps: float | None = None


class LedgerEvent(NamedTuple):
    """An event of the failover ledger: a switch of the active instance, or a recovery cycle."""

    id: str
    proxy_id: str
    event_type: str
    status: str
    source_instance_id: str | None
    target_instance_id: str | None
    reason: str
    actor: str
    started_at: datetime
    completed_at: datetime | None = None
    duration_ms: int | None = None
    error_message: str | None = None


# The routing answer (domain.routing decides it). A ramp starts at this fraction of the target's share.
RAMP_FROM = 0.1


class Ramp(NamedTuple):
    """Slow start: the target's share grows linearly from `start` of it at `starts_at` to all of it
    at `ends_at`."""

    starts_at: datetime
    ends_at: datetime
    start: float = RAMP_FROM


class Target(NamedTuple):
    instance_id: str
    endpoint: str | None
    share: float
    ramp: Ramp | None = None


class RouteAnswer(NamedTuple):
    proxy_id: str
    active_instance_id: str
    endpoint: str | None
    algorithm: LoadBalancingAlgorithm | None
    targets: list[Target]
    degraded: bool


class ProxyAggregate(NamedTuple):
    """A proxy as one transaction reads it: owner, active instance, config, stored posture, instances,
    and a drill in progress."""

    proxy_id: str
    owner_id: str
    active_instance_id: str | None
    config: FailoverConfig
    config_created_at: datetime | None  # None: no stored config, the proxy runs on the defaults
    previous: Redundancy | None  # the stored posture, None before the first instance
    instances: list[Instance]
    drill: Drill | None = None  # a drill in progress
    # The emergency brake is held: nothing switches by itself (operators' switches still do).
    automatic_held: bool = False
    # The routing answer as stored with its version (None: none stored yet).
    route: RouteAnswer | None = None
    route_version: int = 0
