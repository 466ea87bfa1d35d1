"""One typed settings object, parsed from the environment once, on first use (never at import).

A NamedTuple rather than a pydantic model or a dataclass: building the first pydantic model costs
~50 ms and a dataclass ~2-4 ms (its methods are compiled from source when the class is created), which
every API handler would pay at cold start for nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse(name: str, kind: Any, raw: str) -> Any:
    optional = kind.endswith(" | None")
    kind = kind.replace(" | None", "")
    if kind == "bool":
        value = raw.strip().lower()
        if value not in _TRUE | _FALSE:
            raise ValueError(f"{name.upper()} must be true or false, not {raw!r}")
        return value in _TRUE
    if kind in {"int", "float"}:
        try:
            return int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise ValueError(f"{name.upper()} must be a number, not {raw!r}") from None
    if kind == "tuple[str, ...]":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw or None if optional else raw


class Settings(NamedTuple):
    # PostgreSQL: DATABASE_URL, or host/port/name/user with the password in Secrets Manager (Aurora).
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "postgres"
    db_user: str = "postgres"
    db_secret_arn: str | None = None
    # libpq's sslmode (disable, prefer, require, verify-ca, verify-full) and, for the verify modes, a CA
    # bundle (Aurora: the RDS bundle shipped with the function) instead of the system store.
    db_sslmode: str = "verify-full"
    db_sslrootcert: str | None = None
    db_connect_timeout_seconds: float = 5.0
    # A password read from Secrets Manager is read again after this (and at once on a refused login).
    db_secret_max_age_seconds: float = 900.0
    # A reused connection idle for longer than this is pinged before use (Lambda freezes kill sockets).
    db_idle_ping_seconds: float = 60.0
    # A server that lends its request threads connections (the local stack, a thread per client) lends
    # at most this many at once. Slots hold no connection until used. A request that finds them all
    # lent waits, and cannot publish together with those in flight (`notify.relay`).
    db_pool_size: int = 16

    # Authentication: deployed, API Gateway's JWT authorizer verifies; locally HS256 with this secret.
    jwt_secret: str | None = None
    jwt_algorithm: str = "HS256"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    admin_claim: str = "roles"
    # The group in that claim's list that makes a caller an admin.
    admin_group: str = "admin"
    # The claim whose value owns proxies: every principal whose token carries the same value (people
    # and the services that report health alike) sees and changes the same proxies.
    tenant_claim: str = "sub"
    # The console's sign-in through a Cognito user pool's hosted UI (authorization code with PKCE):
    # the pool's domain (https://<prefix>.auth.<region>.amazoncognito.com) and its app client for
    # people. Unset: the console asks for a token.
    console_cognito_domain: str | None = None
    console_cognito_client_id: str | None = None

    notifications_topic_arn: str | None = None
    # Every SNS call is made once and bounded by these (the outbox retries); after one that could not
    # reach SNS, requests stop trying for the breaker's time and leave their notifications to the relay.
    sns_connect_timeout_seconds: float = 1.0
    sns_read_timeout_seconds: float = 1.0
    sns_breaker_seconds: float = 30.0
    # Every SQS call (the dispatcher starting workers) is made once and bounded by these: the next
    # dispatch is the retry.
    sqs_connect_timeout_seconds: float = 1.0
    sqs_read_timeout_seconds: float = 2.0
    # A notification written by a request is relayed by the sweep only after this grace period, so the
    # request's own after-commit publish normally wins and nothing is sent twice.
    outbox_grace_seconds: float = 30.0
    # More failovers than this of one owner within a minute are a storm: one fleet_incident (critical),
    # the individual failovers `warning`.
    notify_storm_threshold: int = 20

    probe_allow_loopback: bool = False
    probe_allowed_cidrs: tuple[str, ...] = ()
    probe_concurrency: int = 1000

    sweep_batch_size: int = 500
    # The sweep stops claiming work when less than this is left of its invocation.
    sweep_deadline_margin_seconds: float = 3.0
    # How often the schedule starts a sweep, and how long one keeps going at most. Longer than the
    # period, so that consecutive invocations overlap (SKIP LOCKED keeps them apart) and no second of
    # the minute goes unchecked while the next one starts. A sweep stays that long only while some
    # proxy's interval is shorter than the period; otherwise it does what is due and returns.
    sweep_schedule_seconds: float = 60.0
    sweep_run_seconds: float = 70.0
    # The dispatcher's work queue (unset: it sweeps itself), the most workers it starts, and the rate
    # it sizes them by (checks per second one worker sustains: bench/scale_bench.py), plus one more
    # worker per this much lag.
    sweep_work_queue_url: str | None = None
    # The vantage this sweep worker checks from (its subnet or region, locally its source address),
    # and for a dispatcher every vantage it starts workers for: "name=work-queue-url", comma-separated
    # (unset: one vantage, SWEEP_VANTAGE, through SWEEP_WORK_QUEUE_URL).
    sweep_vantage: str = "local"
    sweep_vantage_queues: tuple[str, ...] = ()
    # Where each vantage's probes come from, "name=address" (bind before connect; the local stack's
    # vantages are source addresses); a vantage not listed lets the system choose.
    probe_source_addresses: tuple[str, ...] = ()
    # URLs every vantage probes with each batch, known to be up: when all fail, the vantage cannot see
    # (its results are discarded, it is impaired). Empty: no vantage is ever impaired.
    sweep_canary_urls: tuple[str, ...] = ()
    # Whether this vantage's workers make the report time-to-live's failed checks (one vantage does: the
    # dispatcher's first; each vantage making them would count a silent instance's silence twice).
    sweep_ttl_checks: bool = True
    # A vantage in another region: its home-region worker claims and forwards each batch to this queue
    # (the region's own workers probe and send the results back to SWEEP_RESULTS_QUEUE_URL).
    sweep_forward_queue_url: str | None = None
    sweep_results_queue_url: str | None = None
    # The forwarder gathers its batches into one message at most this often.
    sweep_forward_every_seconds: float = 1.0
    sweep_max_workers: int = 4
    sweep_worker_checks_per_second: float = 1000.0
    sweep_lag_target_seconds: float = 10.0

    # Each instance's recent check results (GET /proxy/instances/{id}/checks): the last 100 per
    # vantage and of its reports, written with the checks. Off: nothing is recorded (the rings stay
    # as they were).
    check_history: bool = True

    # Retention, enforced by the dispatcher in batches of `retention_batch_rows`, for at most
    # `retention_budget_seconds` a run (the next run goes on).
    retention_metrics_days: float = 7.0
    retention_sent_notifications_days: float = 7.0
    retention_events_days: float = 400.0
    retention_batch_rows: int = 5000
    retention_budget_seconds: float = 10.0

    max_body_bytes: int = 64 * 1024
    # Registration beyond this is a 409: every write reads all of a proxy's instances, and a list of
    # them must fit a Lambda response.
    max_instances_per_proxy: int = 100

    # POWERTOOLS_LOG_LEVEL (the template's) wins over LOG_LEVEL.
    log_level: str = "INFO"
    powertools_log_level: str | None = None
    # The service name on every log line and metric, the metrics' namespace, and the stage (a metric
    # dimension): the template sets all three.
    powertools_service_name: str = "proxy-failover"
    powertools_metrics_namespace: str = "ProxyFailover"
    powertools_metrics_disabled: bool = False
    stage: str | None = None

    @property
    def vantage_queues(self) -> dict[str, str]:
        """Each vantage's work queue, for the dispatcher (none: it sweeps itself, as SWEEP_VANTAGE)."""
        if self.sweep_vantage_queues:
            return dict(pair.split("=", 1) for pair in self.sweep_vantage_queues)
        return {self.sweep_vantage: self.sweep_work_queue_url} if self.sweep_work_queue_url else {}

    def source_address(self, vantage: str) -> str | None:
        return dict(pair.split("=", 1) for pair in self.probe_source_addresses if "=" in pair).get(vantage)

    @property
    def effective_log_level(self) -> str:
        return self.powertools_log_level or self.log_level

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        # The annotations are the declared types as text (NamedTuple keeps them as forward references).
        values = {
            name: _parse(name, getattr(kind, "__forward_arg__", kind), env[name.upper()])
            for name, kind in cls.__annotations__.items()
            if name.upper() in env
        }
        return cls(**values).checked()

    def checked(self) -> Settings:
        """The settings, or ValueError naming the first variable out of its bounds or choices."""
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name.upper()} must be between {low} and {high}, not {value}")
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value is not None and value.upper() not in allowed and value not in allowed:
                raise ValueError(f"{name.upper()} must be one of {', '.join(sorted(allowed))}, not {value!r}")
        import ipaddress
        import re

        if not re.fullmatch(VANTAGE_NAME, self.sweep_vantage):
            raise ValueError(f"SWEEP_VANTAGE must be {VANTAGE_RULE}, not {self.sweep_vantage!r}")
        for pair in self.sweep_vantage_queues:
            name, sep, url = pair.partition("=")
            if not sep or not url or not re.fullmatch(VANTAGE_NAME, name):
                raise ValueError(
                    f"SWEEP_VANTAGE_QUEUES holds {pair!r}: each must be name=queue-url, the name {VANTAGE_RULE}"
                )
        for cidr in self.probe_allowed_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"PROBE_ALLOWED_CIDRS holds {cidr!r}, which is not a network") from None
        return self


# A vantage's name, as the vantages table's CHECK says (a test holds them together).
VANTAGE_NAME = r"[a-z0-9][a-z0-9_-]{0,62}"
VANTAGE_RULE = "1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"

# Every number a deployment may set, with the range that makes sense (a test holds this to the fields).
BOUNDS: dict[str, tuple[float, float]] = {
    "db_port": (1, 65535),
    "db_connect_timeout_seconds": (0.1, 300),
    "db_idle_ping_seconds": (0, 86400),
    "db_pool_size": (1, 1000),
    "db_secret_max_age_seconds": (0, 86400),
    "outbox_grace_seconds": (0, 3600),
    "notify_storm_threshold": (1, 1_000_000),
    "sns_connect_timeout_seconds": (0.05, 60),
    "sns_read_timeout_seconds": (0.05, 60),
    "sns_breaker_seconds": (0, 3600),
    "sqs_connect_timeout_seconds": (0.05, 60),
    "sweep_forward_every_seconds": (0, 60),
    "sqs_read_timeout_seconds": (0.05, 60),
    "probe_concurrency": (1, 100_000),
    "sweep_batch_size": (1, 100_000),
    "sweep_deadline_margin_seconds": (0, 600),
    "sweep_schedule_seconds": (1, 3600),
    "sweep_run_seconds": (1, 900),
    "sweep_max_workers": (1, 1000),
    "sweep_worker_checks_per_second": (1, 1_000_000),
    "sweep_lag_target_seconds": (1, 3600),
    "retention_metrics_days": (0.0001, 3650),
    "retention_sent_notifications_days": (0.0001, 3650),
    "retention_events_days": (0.0001, 36500),
    "retention_batch_rows": (1, 1_000_000),
    "retention_budget_seconds": (0, 900),
    "max_body_bytes": (1, 6 * 1024 * 1024),
    "max_instances_per_proxy": (1, 10_000),
}
CHOICES: dict[str, frozenset[str]] = {
    "db_sslmode": frozenset({"disable", "prefer", "require", "verify-ca", "verify-full"}),
    "jwt_algorithm": frozenset({"HS256", "HS384", "HS512"}),
    "log_level": frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}),
    "powertools_log_level": frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}),
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
