"""Every error the layer raises on purpose, each declared once: its stable API code, its HTTP status and
what it means live on its class. `api/errors.py` answers with them; the OpenAPI document and the
README's table are generated from them (`contract/errors.py`), and `make lint` fails when either is
stale."""

from __future__ import annotations

from typing import Any


class ProxyFailoverError(Exception):
    """Base of every error the layer raises on purpose."""

    code = "PROXY_FAILOVER_019"
    status = 500
    meaning = "Internal error (a bug: please report it)"

    def __init__(
        self, message: str, *, details: list[dict[str, Any]] | None = None, internal: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message  # ours, shown to the client
        self.details = details
        self.internal = internal  # what a dependency said: logged, never shown to the client


class InvalidInput(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_001", 400
    meaning = "Invalid input: bad JSON, missing or invalid fields (see `details`)"


class ForbiddenProbeTarget(InvalidInput):
    """A health-check URL the service must never contact (metadata service, link-local, ...)."""

    code, status = "PROXY_FAILOVER_002", 400
    meaning = "healthCheckUrl names an address the service never probes"


class ConfigNotFound(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_003", 404
    meaning = "Failover configuration not found"


class ProxyNotFound(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_004", 404
    meaning = "Proxy not found (or owned by another tenant)"


class DuplicateInstanceName(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_005", 409
    meaning = "Instance name already registered for this proxy"


class InstanceNotFound(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_007", 404
    meaning = "Instance not found (or owned by another tenant)"


class SourceNotActive(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_010", 409
    meaning = "Failover source is no longer the active instance"


class TargetNotHealthy(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_011", 409
    meaning = "Failover target is not healthy (or is flapping); `force` overrides"


class InvalidFailoverTarget(ProxyFailoverError):
    """Target equals source, or names an instance of another proxy."""

    code, status = "PROXY_FAILOVER_012", 400
    meaning = "Failover target is the source, the active instance, or not of this proxy"


class EventNotFound(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_013", 404
    meaning = "Failover event not found"


class EventAlreadyCompleted(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_014", 409
    meaning = "Failover event already completed"


class RedundancyNotFound(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_016", 404
    meaning = "Redundancy status not found"


class DatabaseError(ProxyFailoverError):
    """Any other driver error: a bug or an unexpected server state."""


class Unauthenticated(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_020", 401
    meaning = "Missing, malformed, expired or badly signed token"


class Forbidden(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_021", 403
    meaning = "Authenticated but not allowed (admin only)"


class DatabaseUnavailable(ProxyFailoverError):
    """PostgreSQL cannot be reached or dropped the connection: retryable, nothing was committed."""

    code, status = "PROXY_FAILOVER_022", 503
    meaning = "Database unavailable; retry after `Retry-After` seconds"


class RouteNotFound(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_023", 404
    meaning = "No such route"


class MethodNotAllowed(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_024", 405
    meaning = "Method not allowed on this route"


class PayloadTooLarge(ProxyFailoverError):
    code, status = "PROXY_FAILOVER_025", 413
    meaning = "Request body too large"


class ConstraintViolation(ProxyFailoverError):
    """A database constraint refused a write; `constraint` names it so callers can translate it.
    The client sees our words only; PostgreSQL's message is kept in `internal` for the logs."""

    code, status = "PROXY_FAILOVER_026", 400
    meaning = "Refused by a data constraint"

    def __init__(
        self, message: str, *, constraint: str | None, sqlstate: str, internal: str | None = None
    ) -> None:
        super().__init__(message, internal=internal)
        self.constraint = constraint
        self.sqlstate = sqlstate


class MigrationError(ProxyFailoverError):
    """An applied migration file changed, or a migration failed (deploy time, never an API answer)."""

    code, status = "PROXY_FAILOVER_027", 500
    meaning = "A migration failed or an applied one changed (deploy time only)"


class InstanceLimitReached(ProxyFailoverError):
    """A proxy has MAX_INSTANCES_PER_PROXY instances: lists and writes stay bounded."""

    code, status = "PROXY_FAILOVER_028", 409
    meaning = "The proxy already has the maximum number of instances (MAX_INSTANCES_PER_PROXY)"


class ActiveInstance(ProxyFailoverError):
    """Deregistering the active instance of a proxy that has others."""

    code, status = "PROXY_FAILOVER_029", 409
    meaning = "The instance is the proxy's active instance; force=true moves the proxy off it first"


class NoMaintenanceTarget(ProxyFailoverError):
    """Maintenance of the active instance, with no healthy instance to move the proxy to."""

    code, status = "PROXY_FAILOVER_030", 409
    meaning = "No healthy instance to move the proxy to; force keeps the active instance, in maintenance"


class NoDrillTarget(ProxyFailoverError):
    """A drill without a target, and no healthy instance for the strategy to choose."""

    code, status = "PROXY_FAILOVER_031", 409
    meaning = "No healthy instance to drill a failover to"


class DrillInProgress(ProxyFailoverError):
    """A second drill of a proxy while one is in progress."""

    code, status = "PROXY_FAILOVER_032", 409
    meaning = "The proxy is in a drill already; it ends when its time is up (or complete its event)"


class ProxyHasInstances(ProxyFailoverError):
    """A decommission of a proxy that still has instances, without `force=true`."""

    code, status = "PROXY_FAILOVER_033", 409
    meaning = "The proxy still has instances: deregister them first, or decommission with force=true"
