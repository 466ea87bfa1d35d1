"""The one place where errors become HTTP responses: the status an error's class declares, the
contract's envelope, and validation details in the API's field names."""

from __future__ import annotations

from typing import Any

from ..errors import ProxyFailoverError

RETRY_AFTER_SECONDS = 5


def status_for(exc: ProxyFailoverError) -> int:
    return exc.status


def envelope(
    code: str, message: str, status: int, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "statusCode": status}
    if details:
        error["details"] = details
    return {"error": error}


def validation_details(errors: list[Any], prefix: str = "") -> list[dict[str, Any]]:
    """pydantic-core errors -> `[{field, message, type}]` with camelCase dotted field paths."""
    details = []
    for err in errors:
        location = ".".join(str(part) for part in err.get("loc", ()) if part != "__root__")
        field = f"{prefix}.{location}" if prefix and location else (prefix or location or "body")
        details.append(
            {"field": field, "message": err.get("msg", "invalid"), "type": err.get("type", "invalid")}
        )
    return details
