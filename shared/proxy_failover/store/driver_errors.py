"""pg8000's errors as the layer's own: what the client may be told is ours, what PostgreSQL said
is kept for the logs."""

from __future__ import annotations

import socket

from ..errors import ConstraintViolation, DatabaseError, DatabaseUnavailable


class LoginRefused(DatabaseUnavailable):
    """The server refused our credentials: after a rotation, the secret is read again once."""


# SQLSTATE classes that mean "the server or the link is gone": retry later, nothing was committed.
_UNAVAILABLE_PREFIXES = ("08", "57P", "53")
# Serialization failure, deadlock: the unit of work is run again.
RETRYABLE = {"40001", "40P01"}
# Raised by a remembered write's guard (`store.remembered`): the proxy changed since this process wrote it.
_STALE = "PF409"


class StaleRead(DatabaseError):
    """A write decided on this process's memory of its proxy found that proxy changed since: it was
    rolled back, and the writer locks and reads instead. Never reaches a client."""


def translate(exc: Exception) -> Exception:
    """The layer's exception for a driver error (callers `raise translate(e) from e`)."""
    import pg8000.exceptions as pgx

    if isinstance(exc, pgx.DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        fields: dict[str, str] = exc.args[0]
        code = fields.get("C", "")
        said = f"{code}: {fields.get('M', 'database error')}"
        if code.startswith("23"):
            constraint = fields.get("n")
            return ConstraintViolation(
                f"refused by the data constraint {constraint}"
                if constraint
                else "refused by a data constraint",
                constraint=constraint,
                sqlstate=code,
                internal=said,
            )
        if code == _STALE:
            return StaleRead("remembered proxy changed", internal=said)
        if code in {"28P01", "28000"}:  # invalid password, invalid authorization
            return LoginRefused("database unavailable", internal=said)
        if code.startswith(_UNAVAILABLE_PREFIXES):
            return DatabaseUnavailable("database unavailable", internal=said)
        if code.startswith("22"):  # data exceptions: a value out of range, a byte PostgreSQL refuses
            return ConstraintViolation(
                "a value is outside what the database accepts", constraint=None, sqlstate=code, internal=said
            )
        return DatabaseError("database error", internal=said)
    if isinstance(exc, pgx.InterfaceError | OSError | socket.timeout):  # ssl.SSLError is an OSError
        return DatabaseUnavailable("database unavailable", internal=f"{type(exc).__name__}: {exc}")
    return exc


def server_reported(exc: BaseException) -> bool:
    """Whether PostgreSQL itself answered with this error (the connection is then ready again)."""
    import pg8000.exceptions as pgx

    return isinstance(exc, pgx.DatabaseError) and bool(exc.args) and isinstance(exc.args[0], dict)


def sqlstate(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], dict):
        return str(args[0].get("C", ""))
    return ""
