"""The one place where errors become HTTP responses: exception type -> status, by class, never by text."""

from __future__ import annotations

from typing import Any

from .. import errors as e

STATUS_BY_ERROR: dict[type[e.ProxyFailoverError], int] = {
    e.InvalidInput: 400,
    e.InvalidFailoverTarget: 400,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.ConfigNotFound: 404,
    e.ProxyNotFound: 404,
    e.InstanceNotFound: 404,
    e.EventNotFound: 404,
    e.RedundancyNotFound: 404,
    e.RouteNotFound: 404,
    e.MethodNotAllowed: 405,
    e.DuplicateInstanceName: 409,
    e.SourceNotActive: 409,
    e.TargetNotHealthy: 409,
    e.EventAlreadyCompleted: 409,
    e.InstanceLimitReached: 409,
    e.PayloadTooLarge: 413,
    e.ConstraintViolation: 400,
    e.DatabaseUnavailable: 503,
}
RETRY_AFTER_SECONDS = 5

# The README's error table is generated from this list (code, status, meaning).
ERROR_TABLE: list[tuple[str, int, str]] = [
    ("PROXY_FAILOVER_001", 400, "Invalid input: bad JSON, missing or invalid fields (see `details`)"),
    ("PROXY_FAILOVER_002", 400, "healthCheckUrl names an address the service never probes"),
    ("PROXY_FAILOVER_003", 404, "Failover configuration not found"),
    ("PROXY_FAILOVER_004", 404, "Proxy not found (or owned by another tenant)"),
    ("PROXY_FAILOVER_005", 409, "Instance name already registered for this proxy"),
    ("PROXY_FAILOVER_007", 404, "Instance not found (or owned by another tenant)"),
    ("PROXY_FAILOVER_010", 409, "Failover source is no longer the active instance"),
    ("PROXY_FAILOVER_011", 409, "Failover target is not healthy (or is flapping); `force` overrides"),
    ("PROXY_FAILOVER_012", 400, "Failover target is the source, the active instance, or not of this proxy"),
    ("PROXY_FAILOVER_013", 404, "Failover event not found"),
    ("PROXY_FAILOVER_014", 409, "Failover event already completed"),
    ("PROXY_FAILOVER_016", 404, "Redundancy status not found"),
    ("PROXY_FAILOVER_019", 500, "Internal error (a bug: please report it)"),
    ("PROXY_FAILOVER_020", 401, "Missing, malformed, expired or badly signed token"),
    ("PROXY_FAILOVER_021", 403, "Authenticated but not allowed (admin only)"),
    ("PROXY_FAILOVER_022", 503, "Database unavailable; retry after `Retry-After` seconds"),
    ("PROXY_FAILOVER_023", 404, "No such route"),
    ("PROXY_FAILOVER_024", 405, "Method not allowed on this route"),
    ("PROXY_FAILOVER_025", 413, "Request body too large"),
    ("PROXY_FAILOVER_026", 400, "Refused by a data constraint"),
    (
        "PROXY_FAILOVER_028",
        409,
        "The proxy already has the maximum number of instances (MAX_INSTANCES_PER_PROXY)",
    ),
]


def status_for(exc: e.ProxyFailoverError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[kind]
    return 500


def envelope(
    code: str, message: str, status: int, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "statusCode": status}
    if details:
        error["details"] = details
    return {"error": error}


def validation_details(errors: list[Any], prefix: str = "") -> list[dict[str, Any]]:
    """pydantic errors -> `[{field, message, type}]` with camelCase dotted field paths."""
    details = []
    for err in errors:
        location = ".".join(str(part) for part in err.get("loc", ()) if part != "__root__")
        field = f"{prefix}.{location}" if prefix and location else (prefix or location or "body")
        details.append(
            {"field": field, "message": err.get("msg", "invalid"), "type": err.get("type", "invalid")}
        )
    return details
