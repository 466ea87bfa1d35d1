"""Running statements: a connection with prepared statements and a round-trip counter, transactions,
and the process's connection (per thread), replaced when broken.

One connection per process, created on first use and reused across warm Lambda invocations. A
statement is prepared once per connection and then executed in one network round trip (pg8000's
unnamed execution costs three). A transaction's BEGIN travels with its first statement and its
COMMIT with its last (`run(..., commit=True)`), so a write of three statements costs three round
trips, not five: PostgreSQL's protocol allows messages to be sent ahead of the answers.

pg8000 offers neither that nor a test for a connection the server closed, so both use its internals
(the protocol-message writers, the socket, the transaction status); pyproject.toml bounds pg8000 to
the minor version they are tested with.
"""

from __future__ import annotations

import queue
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import DatabaseError, DatabaseUnavailable
from ..observability import get_logger
from ..settings import Settings, get_settings
from .connect import ConnectParams, from_secret, open_connection, params_from_settings
from .driver_errors import RETRYABLE, LoginRefused, server_reported, sqlstate, translate

logger = get_logger(__name__)
T = TypeVar("T")
Guard = tuple[str, dict[str, Any]]  # a statement, and its parameters, that must succeed first
_IDLE = b"I"  # pg8000's record of the server's ReadyForQuery status: no transaction open


class Connection:
    """A pg8000 connection with a prepared-statement cache, a round-trip counter and transactions
    whose BEGIN and COMMIT ride with their first and last statements."""

    __slots__ = (
        "begin_pending",
        "broken",
        "last_used",
        "prefetched",
        "prepared",
        "raw",
        "round_trips",
        "statements",
        "versions",
    )

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.prepared: dict[str, Any] = {}
        self.round_trips = 0
        self.statements = 0
        self.last_used = time.monotonic()
        self.begin_pending = False
        self.broken = False
        # what the transaction's lock statement read of the proxies it locked (aggregate.lock_and_read)
        self.prefetched: dict[str, Any] = {}
        # the row versions of what the transaction read of its proxies (store.remembered.Versions)
        self.versions: dict[str, Any] = {}

    @property
    def in_transaction(self) -> bool:
        # None: no statement has run on it yet (pg8000 records the status from the first one on)
        return self.begin_pending or self.raw._transaction_status not in (_IDLE, None)

    def run(
        self, sql: str, *, commit: bool = False, guard: Guard | None = None, **params: Any
    ) -> list[list[Any]]:
        """Execute one statement and return its rows. Parameters are `:name` placeholders. Inside a
        transaction, the first statement also begins it; `commit=True` also commits it (after an
        error, the transaction is rolled back instead). A `guard` (statement, params) goes first in
        the same message: when it fails, the statement does not run."""
        self.statements += 1
        try:
            if guard is not None:
                rows = self._prepared(sql, params, commit, guard)
            elif not params:
                if self.begin_pending:
                    self.begin_pending = False
                    self._simple("BEGIN")
                rows = self._simple(sql)
                if commit:
                    self._simple("COMMIT")
            else:
                rows = self._prepared(sql, params, commit)
        except Exception as exc:
            raise self._failed(exc) from exc
        finally:
            self.last_used = time.monotonic()
        return rows if rows is not None else []

    def _failed(self, exc: Exception) -> Exception:
        """The layer's error for a failed statement. Only an error the server reported leaves the
        connection as it was (ready, its transaction state known). Anything else (a link that broke, a
        value the driver could not encode halfway through a message) may have left bytes unsent or
        answers unread: the connection is never reused."""
        translated = translate(exc)
        if isinstance(translated, DatabaseUnavailable) or not server_reported(exc):
            self.broken = True
        return translated

    def run_script(self, sql: str) -> None:
        """A whole file of statements without parameters (a migration), in one round trip; inside a
        transaction, its BEGIN goes first in the same message."""
        if self.begin_pending:
            self.begin_pending = False
            sql = "BEGIN;\n" + sql
        self.run(sql)

    def run_then(
        self,
        sql: str,
        params: dict[str, Any],
        after_sql: str,
        after_params: dict[str, Any],
        *,
        guard: Guard | None = None,
    ) -> tuple[list[list[Any]], list[list[Any]] | None]:
        """The transaction's last statement with its COMMIT, then `after_sql` on its own (committing by
        itself once the transaction has), all in one message: one round trip. The transaction's error
        is raised; the statement's rows are returned with the after-statement's, or None when it
        failed (what committed stays committed, and that failure is only logged)."""
        self.statements += 2
        try:
            prepared, after = self._prepare(sql), self._prepare(after_sql)
            guarded = None if guard is None else (self._prepare(guard[0]), _encoded(guard[1]))
            begin, self.begin_pending = self.begin_pending, False
            self.round_trips += 1
            rows, then = _pipelined(
                self.raw,
                prepared,
                _encoded(params),
                begin=begin,
                commit=True,
                after=(after, _encoded(after_params)),
                guard=guarded,
            )
        except Exception as exc:
            raise self._failed(exc) from exc
        finally:
            self.last_used = time.monotonic()
        if isinstance(then, Exception):
            if not server_reported(then):  # answers left unread: never reuse the connection
                self.broken = True
            logger.warning(
                "the statement after a commit failed", extra={"error": f"{type(then).__name__}: {then}"}
            )
            return rows, None
        return rows, then

    def _prepare(self, sql: str) -> Any:
        prepared = self.prepared.get(sql)
        if prepared is None:
            self.round_trips += 1
            prepared = self.raw.prepare(sql)
            self.prepared[sql] = prepared
        return prepared

    def _simple(self, sql: str) -> Any:
        self.round_trips += 1
        return self.raw.run(sql)

    def _prepared(self, sql: str, params: dict[str, Any], commit: bool, guard: Guard | None = None) -> Any:
        params = _encoded(params)
        prepared = self._prepare(sql)
        guarded = None if guard is None else (self._prepare(guard[0]), _encoded(guard[1]))
        begin, self.begin_pending = self.begin_pending, False
        self.round_trips += 1
        if not begin and not commit and guarded is None:
            return prepared.run(**params)
        rows, _ = _pipelined(self.raw, prepared, params, begin=begin, commit=commit, guard=guarded)
        return rows

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


def array_literal(values: list[Any] | tuple[Any, ...]) -> str:
    """A one-dimensional array as PostgreSQL's text form with every element quoted, for a parameter
    cast to an array type (`CAST(:ids AS text[])`). pg8000 leaves elements unquoted, and PostgreSQL
    reads an unquoted `null` in any case as NULL: a proxy or owner named "Null" would match nothing."""
    quoted = (
        "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
    )
    return "{" + ",".join(quoted) + "}"


def _encoded(params: dict[str, Any]) -> dict[str, Any]:
    return {name: array_literal(v) if isinstance(v, list | tuple) else v for name, v in params.items()}


def _pipelined(
    raw: Any,
    prepared: Any,
    params: dict[str, Any],
    *,
    begin: bool,
    commit: bool,
    after: tuple[Any, dict[str, Any]] | None = None,
    guard: tuple[Any, dict[str, Any]] | None = None,
) -> tuple[Any, Any]:
    """BEGIN, a `guard` statement (prepared, params), the prepared statement, COMMIT and an `after`
    statement sent together, then their answers read in order: one round trip. The first error of the
    transaction is raised (the guard's, when it failed: the statement then did not run); after a
    failed statement PostgreSQL answers COMMIT by rolling back, so nothing is left half done.
    Returns the statement's rows and the after-statement's (or the exception it failed with).

    A whole transaction in one message (`begin` and `commit`) needs neither BEGIN nor COMMIT: the
    statements before one Sync are one implicit transaction, committed at the Sync, or rolled back
    there at the first error, which makes PostgreSQL skip the rest (two statements fewer for it to
    run, and for this side to write and read)."""
    from pg8000.converters import make_params
    from pg8000.core import SYNC_MSG, Context, _flush, _write

    # Every value encoded before the first byte is written: one the driver refuses leaves nothing behind.
    values = make_params(raw.py_types, prepared.make_vals(params))
    after_values = None if after is None else make_params(raw.py_types, after[0].make_vals(after[1]))
    guard_values = None if guard is None else make_params(raw.py_types, guard[0].make_vals(guard[1]))
    implicit = begin and commit
    if begin and not implicit:
        raw.send_QUERY("BEGIN")
    if guard is not None:
        raw.send_BIND(guard[0].name_bin, guard_values)
        raw.send_EXECUTE()
        if not implicit:
            _write(raw._sock, SYNC_MSG)
    raw.send_BIND(prepared.name_bin, values)
    raw.send_EXECUTE()
    _write(raw._sock, SYNC_MSG)
    if commit and not implicit:
        raw.send_QUERY("COMMIT")
    if after is not None:
        raw.send_BIND(after[0].name_bin, after_values)
        raw.send_EXECUTE()
        _write(raw._sock, SYNC_MSG)
    _flush(raw._sock)
    first: Exception | None = None
    guarded = (
        None
        if guard is None
        else Context(columns=guard[0].cols, input_funcs=guard[0].input_funcs, statement=guard[0].statement)
    )
    result = Context(columns=prepared.cols, input_funcs=prepared.input_funcs, statement=prepared.statement)
    if implicit:
        try:
            _read_to_sync(raw, [c for c in (guarded, result) if c is not None])
        except Exception as exc:
            first = exc
    else:
        contexts = [Context("BEGIN")] if begin else []
        contexts += [c for c in (guarded, result) if c is not None]
        if commit:
            contexts.append(Context("COMMIT"))
        for context in contexts:
            try:
                raw.handle_messages(context)
            except Exception as exc:
                first = first or exc
    prepared._context = result  # what pg8000's `columns` reads
    then: Any = None
    if after is not None:
        then_context = Context(
            columns=after[0].cols, input_funcs=after[0].input_funcs, statement=after[0].statement
        )
        try:
            raw.handle_messages(then_context)
            then = then_context.rows or []
        except Exception as exc:
            then = exc
        after[0]._context = then_context
    if first is not None:
        raise first
    return result.rows, then


def _read_to_sync(raw: Any, contexts: list[Any]) -> None:
    """The answers of statements executed before one Sync, each statement's into its own context
    (a statement's answer ends with its CommandComplete); the first error is raised once the Sync's
    ReadyForQuery is read, the connection then ready again."""
    from pg8000.core import COMMAND_COMPLETE, READY_FOR_QUERY, _read, ci_unpack

    at, code = 0, None
    while code != READY_FOR_QUERY:
        code, length = ci_unpack(_read(raw._sock, 5))
        raw.message_types[code](_read(raw._sock, length - 4), contexts[min(at, len(contexts) - 1)])
        if code == COMMAND_COMPLETE:
            at += 1
    for context in contexts:
        if context.error is not None:
            raise context.error


class _Lease:
    """`Database.lease()`: a plain context manager (a generator-based one cost a request twice)."""

    __slots__ = ("_db",)

    def __init__(self, db: Database) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db._lend()

    def __exit__(self, *exc: object) -> None:
        self._db._take_back()


class Database:
    """The process-wide connection (per thread), opened lazily and replaced when broken.

    In Lambda a process serves one request at a time on one thread: one connection. A server with a
    thread per client (the local stack) instead wraps each request in `lease()`, which lends the thread
    one of at most `pool_size` connections (DB_POOL_SIZE) and takes it back afterwards.
    """

    def __init__(
        self,
        params: ConnectParams | None = None,
        *,
        settings: Settings | None = None,
        pool_size: int | None = None,
    ) -> None:
        self._params = params
        self._params_read = time.monotonic()
        self._settings = settings
        self._local = threading.local()
        # The pool: one slot a connection, holding it once opened (None until then). Waiting for a
        # slot and handing one back happen in C (a SimpleQueue): threading's Semaphore runs a Python
        # Condition whose notify, under 16 clients, cost a flip 5% of its interpreter time.
        self._slots: queue.SimpleQueue[Connection | None] = queue.SimpleQueue()
        for _ in range(pool_size or self.settings.db_pool_size):
            self._slots.put(None)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Database:
        """A database at `postgresql://user:password@host:port/db` (tests, tools, the local stack)."""
        from .connect import params_from_url

        return cls(params_from_url(url), **options)

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    @property
    def params(self) -> ConnectParams:
        """Where and how to connect. A password from Secrets Manager is read again once it is older
        than DB_SECRET_MAX_AGE_SECONDS (rotations are seen within that), and at once after a login the
        server refused (`_open`). Read when first connecting: no cost at cold start otherwise."""
        settings = self.settings
        stale = (
            self._params is not None
            and from_secret(settings)
            and time.monotonic() - self._params_read > settings.db_secret_max_age_seconds
        )
        if self._params is None or stale:
            self._params = params_from_settings(settings)
            self._params_read = time.monotonic()
        return self._params

    def _open(self) -> Connection:
        try:
            return Connection(open_connection(self.params, self.settings))
        except LoginRefused:
            if not from_secret(self.settings):
                raise
            logger.warning("database login refused: reading the secret again (rotated?)")
            self._params = None
            return Connection(open_connection(self.params, self.settings))

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

    def lease(self) -> _Lease:
        """Lend this thread a pooled connection for one unit of work (waits while all are lent)."""
        return _Lease(self)

    def _lend(self) -> None:
        self._local.con = self._slots.get()

    def _take_back(self) -> None:
        con: Connection | None = getattr(self._local, "con", None)
        self._local.con = None
        if con is not None and (con.broken or con.in_transaction):
            con.close()
            con = None
        self._slots.put(con)

    def close_pool(self) -> None:
        """Close the idle pooled connections and this thread's own."""
        idle: list[Connection | None] = []
        while True:
            try:
                idle.append(self._slots.get_nowait())
            except queue.Empty:
                break
        for con in idle:
            if con is not None:
                con.close()
            self._slots.put(None)
        self.discard()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction: BEGIN goes with its first statement, COMMIT with the statement run with
        `commit=True` (else a COMMIT of its own at the end); ROLLBACK on any error. A connection whose
        link broke is dropped."""
        con = self.connection()
        con.begin_pending = True
        con.prefetched.clear()
        con.versions.clear()
        try:
            yield con
            if con.in_transaction and not con.begin_pending:
                con.run("COMMIT")
        except BaseException:
            if not con.broken and con.in_transaction and not con.begin_pending:
                try:
                    con.run("ROLLBACK")
                except DatabaseUnavailable:
                    pass
            raise
        finally:
            con.begin_pending = False
            con.prefetched.clear()
            con.versions.clear()
            if con.broken:
                self.discard()

    def run_in_transaction(self, work: Callable[[Connection], T], *, attempts: int = 3) -> T:
        """Run `work` in a transaction, again on deadlock or serialization failure."""
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction() as con:
                    return work(con)
            except DatabaseError as exc:
                if attempt < attempts and sqlstate(exc.__cause__ or exc) in RETRYABLE:
                    logger.warning("transaction retried", extra={"attempt": attempt})
                    continue
                raise
        raise AssertionError("unreachable")

    def autocommit(self) -> Connection:
        """The connection for single statements that commit on their own."""
        return self.connection()


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
