"""Connecting to PostgreSQL: where (a URL, or Aurora's host with its password in Secrets Manager),
how (libpq's sslmode), and the codecs every connection gets. Running statements is `db.py`'s."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlparse

from ..errors import DatabaseUnavailable
from ..settings import Settings
from .driver_errors import translate


class ConnectParams(NamedTuple):
    user: str
    database: str
    host: str | None = None
    port: int = 5432
    password: str | None = None
    unix_sock: str | None = None
    # libpq's sslmode values. "prefer" is not the default here: it costs every connection a TLS
    # context (the system CA store, ~50 ms) even against servers that then refuse TLS.
    ssl_mode: str = "disable"
    ssl_root_cert: str | None = None


SSL_MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")


def params_from_url(url: str) -> ConnectParams:
    """`postgresql://user:password@host:port/db`, or `?host=/socket/dir` for a Unix socket."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ValueError("DATABASE_URL must start with postgresql://")
    query = parse_qs(parsed.query)
    socket_dir = query.get("host", [None])[0]
    port = parsed.port or 5432
    return ConnectParams(
        user=unquote(parsed.username or "postgres"),
        password=unquote(parsed.password) if parsed.password else None,
        database=(parsed.path or "/postgres").lstrip("/") or "postgres",
        host=None if socket_dir else (parsed.hostname or "127.0.0.1"),
        port=port,
        unix_sock=f"{socket_dir}/.s.PGSQL.{port}" if socket_dir else None,
        ssl_mode=_ssl_mode(query.get("sslmode", ["disable"])[0]),
    )


def _ssl_mode(mode: str) -> str:
    if mode not in SSL_MODES:
        raise ValueError(f"sslmode must be one of {', '.join(SSL_MODES)}")
    return mode


def ssl_context_for(mode: str, root_cert: str | None = None) -> Any:
    """pg8000's `ssl_context` for an sslmode: False = plain, None = TLS when offered, or a context.

    Only the verifying modes load certificates: the given bundle, else the system store (~50 ms)."""
    if mode == "disable":
        return False
    if mode == "prefer":
        return None
    import ssl  # only TLS connections (Aurora) pay for it

    if mode == "require":  # encrypted, server not verified (libpq's meaning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(cafile=root_cert)
    context.check_hostname = mode == "verify-full"
    return context


def _secret_password(secret_arn: str) -> str:
    """The `password` field of the Secrets Manager secret (Aurora's, managed by RDS or by hand)."""
    import json

    import boto3  # only Aurora deployments read a secret
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"})
    try:
        secret = boto3.client("secretsmanager", config=config).get_secret_value(SecretId=secret_arn)
        return str(json.loads(secret["SecretString"])["password"])
    except Exception as exc:
        raise DatabaseUnavailable(
            "database credentials unavailable", internal=f"{type(exc).__name__}: {exc}"
        ) from exc


def from_secret(settings: Settings) -> bool:
    """Whether the password comes from Secrets Manager (and may be rotated under us)."""
    return not settings.database_url and bool(settings.db_secret_arn)


def params_from_settings(settings: Settings) -> ConnectParams:
    if settings.database_url:
        return params_from_url(settings.database_url)
    if not settings.db_host:
        raise DatabaseUnavailable("no database configured: set DATABASE_URL or DB_HOST")
    return ConnectParams(
        user=settings.db_user,
        database=settings.db_name,
        host=settings.db_host,
        port=settings.db_port,
        password=_secret_password(settings.db_secret_arn) if settings.db_secret_arn else None,
        ssl_mode=_ssl_mode(settings.db_sslmode),
        ssl_root_cert=settings.db_sslrootcert,
    )


TIMESTAMPTZ, TIMESTAMPTZ_ARRAY = 1184, 1185


def timestamptz_in(text: str) -> Any:
    """PostgreSQL's timestamptz text ('2026-11-27 12:00:00.5+00') as an aware datetime.

    pg8000 parses it with strptime, whose first use costs a cold start ~37 M instructions (~3% of the
    bare import) and every value ~10x more than fromisoformat."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # infinity, years past 9999, BC: pg8000's own handling
        from pg8000.converters import timestamptz_in as driver_timestamptz_in

        return driver_timestamptz_in(text)


def timestamptz_array_in(text: str) -> list[Any]:
    """'{"2026-11-27 12:00:00+00",...}': a timestamp holds no comma, brace or quote to escape."""
    inner = text[1:-1]
    if not inner:
        return []
    return [None if item == "NULL" else timestamptz_in(item.strip('"')) for item in inner.split(",")]


# One element of a one-dimensional array's text form: quoted (backslash escapes inside) or bare.
_ELEMENT = re.compile(r'"((?:[^"\\]|\\.)*)"|([^,{}"]+)')
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
TEXT_ARRAY, UUID_TYPE, UUID_ARRAY = 1009, 2950, 2951


def text_array_in(text: str) -> Any:
    """'{a,"b,c",NULL,"NULL"}' as ['a', 'b,c', None, 'NULL'], by one regular expression. pg8000 reads
    arrays a character at a time in Python: the aggregate a write locks carries a few per row, and
    their parsing was a tenth of a status change's CPU. Arrays of arrays (never ours) go to pg8000."""
    if text.startswith("{{") or not text.startswith("{"):
        from pg8000.converters import _array_in

        return _array_in(str)(text)
    found: list[str | None] = []
    for match in _ELEMENT.finditer(text, 1, len(text) - 1):
        quoted, bare = match.groups()
        if bare is not None:
            found.append(None if bare == "NULL" else bare)
        else:
            found.append(_ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted)
    return found


def open_connection(params: ConnectParams, settings: Settings) -> Any:
    """A new pg8000 connection with our codecs, or the layer's error (DatabaseUnavailable, ...)."""
    import pg8000.native

    ssl_context = ssl_context_for(params.ssl_mode, params.ssl_root_cert)
    try:
        raw = pg8000.native.Connection(
            params.user,
            host=params.host or "localhost",
            database=params.database,
            port=params.port,
            password=params.password,
            unix_sock=params.unix_sock,
            ssl_context=ssl_context,
            timeout=settings.db_connect_timeout_seconds,
            application_name="proxy-failover",
        )
    except Exception as exc:
        raise translate(exc) from exc
    _bound_in_kernel(raw, settings.db_connect_timeout_seconds)
    raw.register_in_adapter(TIMESTAMPTZ, timestamptz_in)
    raw.register_in_adapter(TIMESTAMPTZ_ARRAY, timestamptz_array_in)
    # Ids stay text, as the server spells them (the service compares, stores and answers them as
    # strings; building a uuid.UUID for each, to turn it back into text, cost microseconds a value).
    raw.register_in_adapter(UUID_TYPE, str)
    raw.register_in_adapter(UUID_ARRAY, text_array_in)
    raw.register_in_adapter(TEXT_ARRAY, text_array_in)
    return raw


def _bound_in_kernel(raw: Any, seconds: float) -> None:
    """Once connected, every read and write keeps its bound in the kernel (`kernel_timeouts`): pg8000
    reads through its stream over the socket, which is replaced by one that raises on a timeout
    (pg8000's internals: `_usock`, `_sock`; pyproject.toml pins the minor version)."""
    from ..kernel_timeouts import bound_in_kernel, buffered_stream

    bound_in_kernel(raw._usock, seconds)
    stream, raw._sock = raw._sock, buffered_stream(raw._usock)
    stream.close()  # the socket's own stream: nothing is left in it after the startup's last answer
