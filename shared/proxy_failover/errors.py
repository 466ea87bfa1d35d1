"""Domain exceptions. Each carries its stable API code; the HTTP status is decided in api/errors.py only."""

from __future__ import annotations

from typing import Any


class ProxyFailoverError(Exception):
    """Base of every error the layer raises on purpose."""

    code = "PROXY_FAILOVER_019"

    def __init__(
        self, message: str, *, details: list[dict[str, Any]] | None = None, internal: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message  # ours, shown to the client
        self.details = details
        self.internal = internal  # what a dependency said: logged, never shown to the client


class InvalidInput(ProxyFailoverError):
    code = "PROXY_FAILOVER_001"


class ForbiddenProbeTarget(InvalidInput):
    """A health-check URL the service must never contact (metadata service, link-local, ...)."""

    code = "PROXY_FAILOVER_002"


class ConfigNotFound(ProxyFailoverError):
    code = "PROXY_FAILOVER_003"


class ProxyNotFound(ProxyFailoverError):
    code = "PROXY_FAILOVER_004"


class DuplicateInstanceName(ProxyFailoverError):
    code = "PROXY_FAILOVER_005"


class InstanceNotFound(ProxyFailoverError):
    code = "PROXY_FAILOVER_007"


class SourceNotActive(ProxyFailoverError):
    code = "PROXY_FAILOVER_010"


class TargetNotHealthy(ProxyFailoverError):
    code = "PROXY_FAILOVER_011"


class InvalidFailoverTarget(ProxyFailoverError):
    """Target equals source, or names an instance of another proxy."""

    code = "PROXY_FAILOVER_012"


class EventNotFound(ProxyFailoverError):
    code = "PROXY_FAILOVER_013"


class EventAlreadyCompleted(ProxyFailoverError):
    code = "PROXY_FAILOVER_014"


class RedundancyNotFound(ProxyFailoverError):
    code = "PROXY_FAILOVER_016"


class Unauthenticated(ProxyFailoverError):
    code = "PROXY_FAILOVER_020"


class Forbidden(ProxyFailoverError):
    code = "PROXY_FAILOVER_021"


class DatabaseUnavailable(ProxyFailoverError):
    """PostgreSQL cannot be reached or dropped the connection: retryable, nothing was committed."""

    code = "PROXY_FAILOVER_022"


class RouteNotFound(ProxyFailoverError):
    code = "PROXY_FAILOVER_023"


class MethodNotAllowed(ProxyFailoverError):
    code = "PROXY_FAILOVER_024"


class PayloadTooLarge(ProxyFailoverError):
    code = "PROXY_FAILOVER_025"


class ConstraintViolation(ProxyFailoverError):
    """A database constraint refused a write; `constraint` names it so callers can translate it.
    The client sees our words only; PostgreSQL's message is kept in `internal` for the logs."""

    code = "PROXY_FAILOVER_026"

    def __init__(
        self, message: str, *, constraint: str | None, sqlstate: str, internal: str | None = None
    ) -> None:
        super().__init__(message, internal=internal)
        self.constraint = constraint
        self.sqlstate = sqlstate


class InstanceLimitReached(ProxyFailoverError):
    """A proxy has MAX_INSTANCES_PER_PROXY instances: lists and writes stay bounded."""

    code = "PROXY_FAILOVER_028"


class MigrationError(ProxyFailoverError):
    """An applied migration file changed, or a migration failed."""

    code = "PROXY_FAILOVER_027"


class DatabaseError(ProxyFailoverError):
    """Any other driver error: a bug or an unexpected server state."""

    code = "PROXY_FAILOVER_019"
