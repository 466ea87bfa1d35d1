"""pg8000 connection factory, transactions, and translation of driver errors into the layer's own.

One connection per process, created on first use and reused across warm Lambda invocations; a
connection that broke is dropped and replaced. Statements are prepared once per connection and then
executed with a single network round trip (pg8000's unnamed execution costs three).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

from ..errors import ConstraintViolation, DatabaseError, DatabaseUnavailable
from ..observability import get_logger
from ..settings import Settings, get_settings

logger = get_logger(__name__)
T = TypeVar("T")

# SQLSTATE classes that mean "the server or the link is gone": retry later, nothing was committed.
_UNAVAILABLE_PREFIXES = ("08", "57P", "53")
_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock: the unit of work is run again


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
    import json

    import boto3  # only Aurora deployments read a secret

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    return str(json.loads(secret["SecretString"])["password"])


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


def sqlstate(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], dict):
        return str(args[0].get("C", ""))
    return ""


class Connection:
    """A pg8000 connection with a prepared-statement cache and a round-trip counter."""

    __slots__ = ("broken", "in_transaction", "last_used", "prepared", "raw", "round_trips", "statements")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.prepared: dict[str, Any] = {}
        self.round_trips = 0
        self.statements = 0
        self.last_used = time.monotonic()
        self.in_transaction = False
        self.broken = False

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        """Execute one statement and return its rows. Parameters are `:name` placeholders."""
        self.statements += 1
        try:
            if not params:
                self.round_trips += 1
                rows = self.raw.run(sql)
            else:
                prepared = self.prepared.get(sql)
                if prepared is None:
                    self.round_trips += 1
                    prepared = self.raw.prepare(sql)
                    self.prepared[sql] = prepared
                self.round_trips += 1
                rows = prepared.run(**params)
        except Exception as exc:
            translated = translate(exc)
            if isinstance(translated, DatabaseUnavailable):
                self.broken = True
            raise translated from exc
        finally:
            self.last_used = time.monotonic()
        return rows if rows is not None else []

    def columns(self, sql: str) -> list[str]:
        prepared = self.prepared.get(sql)
        cols = prepared.columns if prepared is not None else self.raw.columns
        return [c["name"] for c in cols or []]

    def rows_as_dicts(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        rows = self.run(sql, **params)
        names = self.columns(sql)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        found = self.rows_as_dicts(sql, **params)
        return found[0] if found else None

    def closed_by_server(self) -> bool:
        """True when the server has closed this connection (restart, failover, idle timeout).

        Between statements nothing is expected on the socket, so readable means EOF or a fatal notice:
        one non-blocking poll, no round trip.
        """
        sock = getattr(self.raw, "_usock", None)
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:  # noqa: S110 - closing a dead socket may fail; there is nothing left to do
            pass


class Database:
    """The process-wide connection (per thread), opened lazily and replaced when broken.

    In Lambda a process serves one request at a time on one thread: one connection. A server with a
    thread per client (the local stack) instead wraps each request in `lease()`, which lends the thread
    one of at most `pool_size` connections and takes it back afterwards.
    """

    def __init__(
        self, params: ConnectParams | None = None, *, settings: Settings | None = None, pool_size: int = 8
    ) -> None:
        self._params = params
        self._settings = settings
        self._local = threading.local()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._idle: list[Connection] = []
        self._idle_lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    @property
    def params(self) -> ConnectParams:
        if self._params is None:
            self._params = params_from_settings(self.settings)
        return self._params

    def _open(self) -> Connection:
        import pg8000.native

        p = self.params
        ssl_context = ssl_context_for(p.ssl_mode, p.ssl_root_cert)
        try:
            raw = pg8000.native.Connection(
                p.user,
                host=p.host or "localhost",
                database=p.database,
                port=p.port,
                password=p.password,
                unix_sock=p.unix_sock,
                ssl_context=ssl_context,
                timeout=self.settings.db_connect_timeout_seconds,
                application_name="proxy-failover",
            )
        except Exception as exc:
            raise translate(exc) from exc
        raw.register_in_adapter(TIMESTAMPTZ, timestamptz_in)
        raw.register_in_adapter(TIMESTAMPTZ_ARRAY, timestamptz_array_in)
        return Connection(raw)

    def connection(self) -> Connection:
        con: Connection | None = getattr(self._local, "con", None)
        if con is not None and (con.broken or (not con.in_transaction and con.closed_by_server())):
            con.close()
            con = None
        if con is not None and time.monotonic() - con.last_used > self.settings.db_idle_ping_seconds:
            try:
                con.run("SELECT 1")
            except DatabaseUnavailable:
                con.close()
                con = None
        if con is None:
            con = self._open()
            self._local.con = con
        return con

    def discard(self) -> None:
        con: Connection | None = getattr(self._local, "con", None)
        if con is not None:
            con.close()
        self._local.con = None

    @contextmanager
    def lease(self) -> Iterator[None]:
        """Lend this thread a pooled connection for one unit of work (waits while all are lent)."""
        self._slots.acquire()
        with self._idle_lock:
            self._local.con = self._idle.pop() if self._idle else None
        try:
            yield
        finally:
            con: Connection | None = getattr(self._local, "con", None)
            self._local.con = None
            if con is not None and (con.broken or con.in_transaction):
                con.close()
            elif con is not None:
                with self._idle_lock:
                    self._idle.append(con)
            self._slots.release()

    def close_pool(self) -> None:
        """Close the idle pooled connections and this thread's own."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()
        self.discard()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN ... COMMIT; ROLLBACK on any error. The connection is dropped if the link broke."""
        con = self.connection()
        con.run("BEGIN")
        con.in_transaction = True
        try:
            yield con
            con.run("COMMIT")
        except BaseException:
            if not con.broken:
                try:
                    con.run("ROLLBACK")
                except DatabaseUnavailable:
                    pass
            raise
        finally:
            con.in_transaction = False
            if con.broken:
                self.discard()

    def run_in_transaction(self, work: Callable[[Connection], T], *, attempts: int = 3) -> T:
        """Run `work` in a transaction, again on deadlock or serialization failure."""
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction() as con:
                    return work(con)
            except DatabaseError as exc:
                if attempt < attempts and sqlstate(exc.__cause__ or exc) in _RETRYABLE:
                    logger.warning("transaction retried", extra={"attempt": attempt})
                    continue
                raise
        raise AssertionError("unreachable")

    def autocommit(self) -> Connection:
        """The connection for single statements that commit on their own."""
        con = self.connection()
        if con.broken:
            self.discard()
            con = self.connection()
        return con


_default: Database | None = None
_default_lock = threading.Lock()


def get_database() -> Database:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Database()
    return _default


def set_database(database: Database | None) -> None:
    """Point the layer at another database (tests, the local stack)."""
    global _default
    if _default is not None and _default is not database:
        _default.discard()
    _default = database
