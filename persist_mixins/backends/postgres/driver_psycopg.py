"""psycopg 3 drivers: check connections out of psycopg_pool pools and execute one command.

:class:`PgDriver` (blocking) and :class:`AsyncPgDriver` (asyncio) differ only by
``await``; what a run does around a command (joining a transaction, Begin/Commit,
rolling back) is in :mod:`.transaction`, and the pools built from URLs are cached
and closed by :mod:`persist_mixins.connections` through :data:`FACTORY` (per process
for sync models, per event loop for asyncio ones).  Server errors become the
library's errors where they mean something to the user (a unique clash is a
:class:`~persist_mixins.errors.ConflictError`, a missing table says to call
``create_table()``); the rest surface unchanged.

Checking a connection out of a pool does two things psycopg_pool does not
(docs/postgres.md, "When connections fail"): a connection the server has closed
while it sat in the pool (``pg_terminate_backend()``, a restart) is noticed
without a round trip and replaced, and a pool that has no connection to give
after :data:`FIRST_WAIT` seconds, none of this process's being in use, tries
one connection of its own, so that an unreachable server fails at once with
its answer instead of after the pool's whole wait.
"""

from __future__ import annotations

import asyncio
import math
import select
import threading
import time
import weakref
from typing import Any, NoReturn

import orjson
import psycopg
import psycopg_pool
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg.types.json import set_json_loads

from ...backend import Flavour
from ...connections import safe_url
from ...errors import (
    BackendConnectionError,
    ConfigurationError,
    ConflictError,
    PersistError,
    PoolTimeoutError,
    RetryableError,
    ValidationError,
)
from .commands import Begin, Commit, Copy, Sql
from .transaction import PG_SESSION

__all__ = [
    "FACTORY", "FIRST_WAIT", "RETRYABLE", "AsyncPgDriver", "PgDriver", "aclosed_by_server", "areply",
    "closed_by_server", "kind_of", "model_table", "quiet", "reply", "server_error", "translate",
]  # fmt: skip

#: Pool sizes and the wait for a free connection, for pools built from URLs.
POOL_MIN, POOL_MAX, POOL_TIMEOUT = 1, 10, 10.0
#: Seconds a checkout waits before asking whether the server answers at all (when none of
#: this process's connections from the pool is in use); the rest of the pool's wait follows
#: only if it does.
FIRST_WAIT = 0.5
#: Seconds a connection of a pool built from a URL may stay out of the pool between the
#: library's operations (kept for the next one) before its next release gives it back, so
#: that psycopg_pool's own upkeep (``max_lifetime``, resets) still reaches it.
KEEP_FOR = 60.0


def reply(cur: Any, command: Sql) -> Any:
    """What a blocking DB-API cursor that ran ``command`` answers, by ``command.fetch``."""
    fetch = command.fetch
    if fetch == "count":
        return cur.rowcount
    if fetch == "one":
        return cur.fetchone()
    if fetch == "all":
        return cur.fetchall()
    return cur.statusmessage


async def areply(cur: Any, command: Sql) -> Any:
    """:func:`reply` for an asyncio cursor (psycopg 3 async, aiopg), whose fetches are awaited."""
    fetch = command.fetch
    if fetch in ("one", "all"):
        return await (cur.fetchone() if fetch == "one" else cur.fetchall())
    return reply(cur, command)


def server_error(
    model: str, url: str, exc: Exception, kind: str | None, diag: Any = None, table: str | None = None
) -> Exception:
    """The library's error for a classified driver error (``kind``: see :func:`kind_of`), else ``exc``.

    Each driver module only classifies its client library's exceptions; the messages live here once.
    ``diag`` is the error's diagnostics (psycopg 3 and psycopg 2 name the fields alike: ``column_name``,
    ``constraint_name``, ``table_name``, ``message_detail``); ``table`` the model's table (unquoted), which
    tells a foreign key the written row breaks from one that still points at the row written or deleted.
    """
    constraint = getattr(diag, "constraint_name", None)
    if kind == "unique":
        return ConflictError(f"{model}: a unique index ({constraint}) already holds these values: {exc}")
    if kind in _CONSTRAINT_KINDS:
        return _constraint_error(model, exc, kind, diag, table)
    if kind == "table":
        hint = f"{model}: its table does not exist; create it first with {model}.create_table()"
        return ConfigurationError(f"{hint}\n{exc}")
    if kind == "connection":
        return BackendConnectionError(f"cannot reach PostgreSQL at {url} (or the connection was lost): {exc}")
    if kind == "retry":
        return RetryableError(
            f"{model}: {exc.__class__.__name__}: the server rolled the operation back; retry it: {exc}"
        )
    return exc


#: Constraint violations by SQLSTATE (class 23, integrity constraint violation), besides unique (23505).
_CONSTRAINTS = {
    "23502": "not_null", "23514": "check", "23503": "foreign_key", "23P01": "exclusion",
}  # fmt: skip
_CONSTRAINT_KINDS = frozenset(_CONSTRAINTS.values())


def _constraint_error(model: str, exc: Exception, kind: str, diag: Any, table: str | None) -> Exception:
    """ValidationError (the row breaks a NOT NULL, CHECK or foreign key) or ConflictError (other rows clash).

    A foreign key that another table's rows hold on the row being deleted (or re-keyed) is a
    ConflictError: the data is valid, other rows stand in the way.
    """
    constraint = getattr(diag, "constraint_name", None)
    column = getattr(diag, "column_name", None)
    where = getattr(diag, "table_name", None)
    schema = getattr(diag, "schema_name", None)
    on = f'"{schema}"."{where}"' if schema and where else f'"{where}"' if where else "the table"
    detail = getattr(diag, "message_detail", None) or getattr(diag, "message_primary", None) or str(exc)
    detail = detail.strip()
    if kind == "not_null":
        return ValidationError(
            f"{model}.{column}: the column {column!r} of {on} is NOT NULL (its not-null constraint): None "
            "cannot be stored there; nothing was written"
        )
    if kind == "check":
        return ValidationError(
            f"{model}: the row breaks the CHECK constraint {constraint!r} of {on}; nothing was written ({detail})"
        )
    # The row written refers to a missing one ("is not present in table"), or rows still refer to the
    # row deleted or re-keyed ("is still referenced from table"): told apart by the server's detail,
    # then by the table (a table whose rows refer to each other is both).
    referenced = "still referenced" in detail
    if kind == "foreign_key" and not referenced and (table is None or where == table or "not present" in detail):
        return ValidationError(
            f"{model}: the row refers to a row that does not exist (foreign key {constraint!r} of {on}); "
            f"nothing was written ({detail})"
        )
    if kind == "foreign_key":
        return ConflictError(
            f"{model}: rows of {on} still refer to this row (foreign key {constraint!r}); nothing was written "
            f"or deleted ({detail})"
        )
    return ConflictError(
        f"{model}: the row clashes with a stored one (exclusion constraint {constraint!r} of {on}); "
        f"nothing was written ({detail})"
    )


#: SQLSTATEs a retry of the whole operation may succeed after (the server rolled it back).
RETRYABLE = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
#: SQLSTATEs that mean the connection is gone, besides class 08 (connection exception).
_LOST = frozenset({"57P01", "57P02", "57P03"})  # admin_shutdown, crash_shutdown, cannot_connect_now


def kind_of(sqlstate: str | None, operational: bool) -> str | None:
    """What a driver error means to the user, by SQLSTATE (the table in docs/errors.md).

    ``operational``: the client library classed it as an operational error; without a
    SQLSTATE that is a connection refused or lost on the client side.
    """
    if sqlstate == "23505":
        return "unique"
    if sqlstate in _CONSTRAINTS:
        return _CONSTRAINTS[sqlstate]
    if sqlstate == "42P01":
        return "table"
    if sqlstate in RETRYABLE:
        return "retry"
    if sqlstate is None:
        return "connection" if operational else None
    return "connection" if sqlstate.startswith("08") or sqlstate in _LOST else None


def translate(model: str, url: str, exc: Exception, table: str | None = None) -> Exception:
    """The error to raise for a server or connection error (the original becomes ``__cause__``).

    ``table``: the model's table (unquoted), for foreign keys (see :func:`server_error`).
    """
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return server_error(model, url, exc, "connection")
    kind = kind_of(getattr(exc, "sqlstate", None), isinstance(exc, psycopg.OperationalError))
    return server_error(model, url, exc, kind, getattr(exc, "diag", None), table)


def model_table(model: type) -> str | None:
    """The (unquoted) table of a model class, or None for a class that has none (an abstract base)."""
    from ...binding import spec_of

    try:
        return spec_of(model).options.table
    except PersistError:
        return None


def _raise(model: str, url: str, exc: Exception, table: str | None = None) -> NoReturn:
    """Raise the error for ``exc``: the library's, with ``exc`` as its ``__cause__``, or ``exc`` itself."""
    error = translate(model, url, exc, table)
    if error is exc:
        raise exc
    raise error from exc


def _copy_sql(command: Copy) -> str:
    return f"COPY {command.table} ({', '.join(command.columns)}) FROM STDIN"


def quiet(conn: Any) -> bool:
    """True when the server has sent nothing to this idle connection: the common case, no round trip.

    An idle autocommit connection receives nothing unasked, except notifications after
    ``LISTEN``; a server that ends a session (``pg_terminate_backend()``, a shutdown, an
    ``idle_session_timeout``) sends its reason, then closes the socket.  One ``select()``
    with no wait (under a microsecond) tells the two cases apart.
    """
    pgconn = conn.pgconn
    return bool(pgconn.status == ConnStatus.OK and not select.select((pgconn.socket,), (), (), 0)[0])


def closed_by_server(conn: Any) -> bool:
    """True when the server has closed ``conn`` (a blocking connection) while it sat idle in a pool.

    A :func:`quiet` connection is taken as alive; one the server wrote to is checked with
    an empty statement (psycopg_pool's ``check_connection``), which also hands pending
    notifications to their handlers, and closed if the check fails.
    """
    if quiet(conn):
        return False
    try:
        psycopg_pool.ConnectionPool.check_connection(conn)
    except psycopg.Error:
        conn.close()  # so that the pool discards it
        return True
    return False


async def aclosed_by_server(conn: Any) -> bool:
    """:func:`closed_by_server` for an asyncio connection."""
    if quiet(conn):
        return False
    try:
        await psycopg_pool.AsyncConnectionPool.check_connection(conn)
    except psycopg.Error:
        await conn.close()
        return True
    return False


class _PoolState:
    """What every driver over one pool shares: checkouts, kept connections, the last probe of the server.

    A pool built from a URL is the library's alone (``keep``): a connection its operation
    is done with is kept, idle, for the next operation instead of going back through
    psycopg_pool (whose checkout and return cost more than a short query on a local
    server), unless an operation is waiting for a connection from the pool, the
    connection has been out for :data:`KEEP_FOR` seconds, or the pool is closing.  Kept
    connections are taken most recent first; one idle for longer than the pool's
    ``max_idle`` goes back at the next release, so that the pool can shrink.
    """

    __slots__ = (
        "__weakref__", "alock", "at", "closing", "hot", "keep", "left", "lock", "max_idle", "out", "probing",
        "refused", "waiting",
    )  # fmt: skip

    def __init__(self) -> None:
        self.out: set[int] = set()  # id() of each connection in use by an operation, now
        self.keep = False  # the pool is the library's own (built from a URL)
        self.hot: list[tuple[Any, float]] = []  # kept idle connections, and when each was released
        self.left: dict[int, float] = {}  # id() of each connection out of the pool -> when it left
        self.waiting = 0  # operations waiting for a connection from the pool itself
        self.closing = False
        self.max_idle = 600.0
        self.lock = threading.Lock()  # guards hot / left / waiting / closing (never held across I/O)
        self.probing = threading.Lock()
        self.alock: asyncio.Lock | None = None  # made in the pool's event loop, on first use
        self.at = -math.inf  # when the server was last probed
        self.refused: Exception | None = None  # what it answered then (None: a connection was made)

    def fresh(self) -> bool:
        """True when the last probe is recent enough to stand for the server's state now."""
        return time.monotonic() - self.at < FIRST_WAIT

    def take(self) -> Any:
        """A kept connection (most recent first), or None after counting the caller as waiting for the pool."""
        with self.lock:
            if self.hot:
                return self.hot.pop()[0]
            self.waiting += 1
            return None

    def stop_waiting(self) -> None:
        """The caller got its connection from the pool (or gave up)."""
        with self.lock:
            self.waiting -= 1

    def keep_or_return(self, conn: Any) -> tuple[bool, Any]:
        """Keep ``conn`` for the next operation if it may be; and a connection idle for too long, to give back.

        Returns:
            ``(kept, stale)``: whether ``conn`` was kept; a kept connection that has idled past the
            pool's ``max_idle`` (or None), which the caller gives back to the pool.
        """
        key = id(conn)
        if conn.pgconn.transaction_status != TransactionStatus.IDLE:  # broken, or left mid-transaction
            with self.lock:
                self.left.pop(key, None)
            return False, None
        now = time.monotonic()
        with self.lock:
            if self.waiting or self.closing or now - self.left.get(key, now) > KEEP_FOR:
                self.left.pop(key, None)
                return False, None
            self.hot.append((conn, now))
            if len(self.hot) > 1 and now - self.hot[0][1] > self.max_idle:
                stale = self.hot.pop(0)[0]
                self.left.pop(id(stale), None)
                return True, stale
            return True, None

    def drain(self) -> list[Any]:
        """Stop keeping connections; the kept ones, to give back before the pool closes."""
        with self.lock:
            self.closing = True
            kept = [conn for conn, _ in self.hot]
            self.hot.clear()
            self.left.clear()
        return kept


_states: weakref.WeakKeyDictionary[Any, _PoolState] = weakref.WeakKeyDictionary()


def _state_of(pool: Any) -> _PoolState:
    try:
        return _states[pool]
    except KeyError:
        return _states.setdefault(pool, _PoolState())


def _probe_args(pool: Any, budget: float) -> tuple[str, dict[str, Any]]:
    """The pool's conninfo and connection arguments, with a connect timeout within ``budget``."""
    conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
    kwargs = dict(pool.kwargs() if callable(pool.kwargs) else (pool.kwargs or {}))
    kwargs["connect_timeout"] = max(2, math.ceil(budget))  # libpq's floor is 2 s
    return conninfo, kwargs


def _unreachable(url: str, exc: Exception) -> BackendConnectionError:
    return BackendConnectionError(f"cannot reach PostgreSQL at {url}: {exc}")


def _busy(model: str, url: str, pool: Any, exc: Exception) -> PoolTimeoutError:
    return PoolTimeoutError(
        f"{model}: no connection to PostgreSQL at {url} came free within the pool's wait "
        f"({pool.timeout:g} s; the pool holds at most {pool.max_size}, all in use): {exc}"
    )


def _cursor(conn: Any) -> Any:
    """The cursor the library reuses on one of its own pooled connections (made on first use).

    Statements on such a connection run one at a time, by one operation, and each reply
    is read in full before the next statement: one cursor serves them all, which spares
    psycopg building a cursor per statement.  It holds the last result until the next one.
    """
    cur = conn.__dict__.get("_persist_mixins_cursor")
    if cur is None:
        cur = conn._persist_mixins_cursor = conn.cursor()
    return cur


class _Base:
    """What both flavours share: the source, routing, and the connection checks that need no I/O."""

    __slots__ = ("key", "model", "pooled", "route", "source", "state", "table", "url")
    rules = PG_SESSION
    shared = None

    def __init__(self, source: Any, url: str, model: str, pool_type: type, table: str | None = None) -> None:
        """Wrap a pool or connection; ``url`` names the server in errors, ``model`` the class, ``table`` its table."""
        self.source = self.key = source
        self.table = table
        self.pooled = isinstance(source, pool_type)
        self.state = _state_of(source) if self.pooled else None
        self.url = url
        self.model = model
        self.route = dict.fromkeys((Sql, Copy, Begin, Commit), self)

    def in_transaction(self, conn: Any) -> bool:
        """True inside a transaction, or on a connection that is not autocommit."""
        return not conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE

    def implicit(self, conn: Any) -> bool:
        """True for an idle connection that is not autocommit (a user's, given as ``__postgres__``)."""
        return not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE

    def _error(self, exc: Exception) -> Exception:
        return translate(self.model, self.url, exc, self.table)

    def _first_wait(self) -> float:
        return min(FIRST_WAIT, float(self.source.timeout))


class PgDriver(_Base):
    """Runs statements on a psycopg ``Connection`` or a ``ConnectionPool`` (blocking)."""

    __slots__ = ()

    def acquire(self) -> Any:
        """A live connection from the pool (or the one connection given).

        Raises:
            BackendConnectionError: the server cannot be reached (at once, with its answer).
            PoolTimeoutError: the server answers, but no connection came free within the pool's wait.
        """
        if not self.pooled:
            return self.source
        state = self.state
        assert state is not None
        if not state.keep:
            try:
                return self._checkout(self._first_wait())
            except psycopg_pool.PoolTimeout:
                return self._wait()
        while True:
            conn = state.take()
            if conn is None:
                break
            if not closed_by_server(conn):
                state.out.add(id(conn))
                return conn
            state.left.pop(id(conn), None)
            self.source.putconn(conn)  # closed: the pool discards it and opens another
        try:
            try:
                conn = self._checkout(self._first_wait())
            except psycopg_pool.PoolTimeout:
                conn = self._wait()
        finally:
            state.stop_waiting()
        state.left[id(conn)] = time.monotonic()
        return conn

    def _checkout(self, timeout: float) -> Any:
        """A connection the server has not closed, within ``timeout`` seconds (PoolTimeout)."""
        pool = self.source
        conn = pool.getconn(timeout)
        deadline = None
        while closed_by_server(conn):  # the pool discards it and makes a new one
            pool.putconn(conn)
            if deadline is None:
                deadline = time.monotonic() + timeout
            conn = pool.getconn(max(deadline - time.monotonic(), 0.001))
        self.state.out.add(id(conn))  # type: ignore[union-attr]
        return conn

    def _wait(self) -> Any:
        """The rest of the pool's wait, if the server answers; else its answer, now."""
        pool, state = self.source, self.state
        assert state is not None
        started = time.monotonic()
        budget = pool.timeout - self._first_wait()
        if not state.out:  # nothing of ours is in use, yet no connection: is the server there?
            with state.probing:  # one probe at a time per pool; the others take its answer
                if not state.fresh():
                    state.refused = self._probe(budget)
                    state.at = time.monotonic()
                refused = state.refused
            if refused is not None:
                raise _unreachable(self.url, refused) from refused
        try:
            return self._checkout(max(budget - (time.monotonic() - started), 0.001))
        except psycopg_pool.PoolTimeout as exc:
            raise _busy(self.model, self.url, pool, exc) from exc

    def _probe(self, budget: float) -> Exception | None:
        """Open (and close) one connection as the pool would: None, or why it failed."""
        conninfo, kwargs = _probe_args(self.source, budget)
        try:
            self.source.connection_class.connect(conninfo, **kwargs).close()
        except psycopg.Error as exc:
            return exc
        return None

    def release(self, conn: Any) -> None:
        """Keep the connection for the next operation, or return it to the pool (which discards a broken one)."""
        if not self.pooled:
            return
        state = self.state
        assert state is not None
        state.out.discard(id(conn))
        if state.keep:
            kept, stale = state.keep_or_return(conn)
            if stale is not None:
                self.source.putconn(stale)
            if kept:
                return
        self.source.putconn(conn)

    def execute(self, conn: Any, command: Sql | Copy) -> Any:
        """Send one statement, or COPY rows in (the reply is then how many)."""
        try:
            if isinstance(command, Sql):
                on = _cursor(conn) if self.state is not None and self.state.keep else conn
                return reply(on.execute(command.text, command.params or None), command)
            with conn.cursor() as cur, cur.copy(_copy_sql(command)) as cp:
                for row in command.rows:
                    cp.write_row(row)
            return len(command.rows)
        except psycopg.Error as exc:
            _raise(self.model, self.url, exc, self.table)

    def end(self, conn: Any, commit: bool) -> None:
        """Commit or roll back what a non-autocommit connection opened by itself."""
        try:
            conn.commit() if commit else conn.rollback()
        except psycopg.Error as exc:
            _raise(self.model, self.url, exc, self.table)


class AsyncPgDriver(_Base):
    """Runs statements on a psycopg ``AsyncConnection`` or an ``AsyncConnectionPool``."""

    __slots__ = ()

    async def acquire(self) -> Any:
        """A live connection from the pool (opened on first use), or the one connection given.

        Raises:
            BackendConnectionError: the server cannot be reached (at once, with its answer).
            PoolTimeoutError: the server answers, but no connection came free within the pool's wait.
        """
        if not self.pooled:
            return self.source
        state = self.state
        assert state is not None
        if not state.keep:
            try:
                return await self._checkout(self._first_wait())
            except psycopg_pool.PoolTimeout:
                return await self._wait()
        while True:
            conn = state.take()
            if conn is None:
                break
            if quiet(conn) or not await aclosed_by_server(conn):  # quiet: no coroutine on the common path
                state.out.add(id(conn))
                return conn
            state.left.pop(id(conn), None)
            await self.source.putconn(conn)  # closed: the pool discards it and opens another
        try:
            pool = self.source
            if pool.closed and id(pool) in _opening:
                await pool.open()
                _opening.discard(id(pool))
            try:
                conn = await self._checkout(self._first_wait())
            except psycopg_pool.PoolTimeout:
                conn = await self._wait()
        finally:
            state.stop_waiting()
        state.left[id(conn)] = time.monotonic()
        return conn

    async def _checkout(self, timeout: float) -> Any:
        """A connection the server has not closed, within ``timeout`` seconds (PoolTimeout)."""
        pool = self.source
        conn = await pool.getconn(timeout)
        deadline = None
        while await aclosed_by_server(conn):  # the pool discards it and makes a new one
            await pool.putconn(conn)
            if deadline is None:
                deadline = time.monotonic() + timeout
            conn = await pool.getconn(max(deadline - time.monotonic(), 0.001))
        self.state.out.add(id(conn))  # type: ignore[union-attr]
        return conn

    async def _wait(self) -> Any:
        """The rest of the pool's wait, if the server answers; else its answer, now."""
        pool, state = self.source, self.state
        assert state is not None
        started = time.monotonic()
        budget = pool.timeout - self._first_wait()
        if not state.out:  # nothing of ours is in use, yet no connection: is the server there?
            if state.alock is None:
                state.alock = asyncio.Lock()
            async with state.alock:  # one probe at a time per pool; the others take its answer
                if not state.fresh():
                    state.refused = await self._probe(budget)
                    state.at = time.monotonic()
                refused = state.refused
            if refused is not None:
                raise _unreachable(self.url, refused) from refused
        try:
            return await self._checkout(max(budget - (time.monotonic() - started), 0.001))
        except psycopg_pool.PoolTimeout as exc:
            raise _busy(self.model, self.url, pool, exc) from exc

    async def _probe(self, budget: float) -> Exception | None:
        """Open (and close) one connection as the pool would: None, or why it failed."""
        conninfo, kwargs = _probe_args(self.source, budget)
        try:
            await (await self.source.connection_class.connect(conninfo, **kwargs)).close()
        except psycopg.Error as exc:
            return exc
        return None

    async def release(self, conn: Any) -> None:
        """Keep the connection for the next operation, or return it to the pool (which discards a broken one)."""
        if not self.pooled:
            return
        state = self.state
        assert state is not None
        state.out.discard(id(conn))
        if state.keep:
            kept, stale = state.keep_or_return(conn)
            if stale is not None:
                await self.source.putconn(stale)
            if kept:
                return
        await self.source.putconn(conn)

    async def execute(self, conn: Any, command: Sql | Copy) -> Any:
        """Send one statement, or COPY rows in (the reply is then how many)."""
        try:
            if isinstance(command, Sql):
                on = _cursor(conn) if self.state is not None and self.state.keep else conn
                return await areply(await on.execute(command.text, command.params or None), command)
            async with conn.cursor() as cur, cur.copy(_copy_sql(command)) as cp:
                for row in command.rows:
                    await cp.write_row(row)
            return len(command.rows)
        except psycopg.Error as exc:
            _raise(self.model, self.url, exc, self.table)

    async def end(self, conn: Any, commit: bool) -> None:
        """Commit or roll back what a non-autocommit connection opened by itself."""
        try:
            await (conn.commit() if commit else conn.rollback())
        except psycopg.Error as exc:
            _raise(self.model, self.url, exc, self.table)


#: Async pools built but not yet opened (opening needs the running loop, building does not).
_opening: set[int] = set()


def _configure(conn: psycopg.Connection[Any]) -> None:
    set_json_loads(orjson.loads, conn)


async def _aconfigure(conn: psycopg.AsyncConnection[Any]) -> None:
    set_json_loads(orjson.loads, conn)


def _conn_url(conn: Any) -> str:
    info = conn.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


class PgFactory:
    """Builds, wraps and closes psycopg pools for :mod:`persist_mixins.connections`."""

    def open(self, url: str, flavour: Flavour) -> Any:
        """A pool of autocommit connections from a URL (async: opened on first use, in the running loop)."""
        options: dict[str, Any] = {
            "min_size": POOL_MIN, "max_size": POOL_MAX, "timeout": POOL_TIMEOUT,
            "kwargs": {"autocommit": True}, "name": "persist_mixins",
        }  # fmt: skip
        pool: Any
        if flavour == "sync":
            pool = psycopg_pool.ConnectionPool(url, open=True, configure=_configure, **options)
        else:
            pool = psycopg_pool.AsyncConnectionPool(url, open=False, configure=_aconfigure, **options)
            _opening.add(id(pool))
        state = _state_of(pool)
        state.keep, state.max_idle = True, float(pool.max_idle)  # the library's own pool: see _PoolState
        return pool

    def wrap(self, source: Any, flavour: Flavour, model: type, url: str | None) -> Any:
        """The driver over a pool or connection of the right flavour (or an aiopg pool, for asyncio)."""
        name = model.__name__
        table = model_table(model)
        if flavour == "sync":
            if isinstance(source, psycopg_pool.ConnectionPool):
                return PgDriver(source, safe_url(url or str(source.conninfo)), name, psycopg_pool.ConnectionPool, table)
            if isinstance(source, psycopg.Connection):
                return PgDriver(source, _conn_url(source), name, psycopg_pool.ConnectionPool, table)
            wanted = "a psycopg Connection / psycopg_pool ConnectionPool (async models take async ones)"
        else:
            if isinstance(source, psycopg_pool.AsyncConnectionPool):
                pool_url = safe_url(url or str(source.conninfo))
                return AsyncPgDriver(source, pool_url, name, psycopg_pool.AsyncConnectionPool, table)
            if isinstance(source, psycopg.AsyncConnection):
                return AsyncPgDriver(source, _conn_url(source), name, psycopg_pool.AsyncConnectionPool, table)
            if type(source).__module__.startswith("aiopg"):
                from .driver_aiopg import AiopgDriver

                return AiopgDriver(source, name, table)
            wanted = (
                "a psycopg AsyncConnection / AsyncConnectionPool or an aiopg Pool / Connection "
                "(sync models take sync ones)"
            )
        raise ConfigurationError(
            f"{name}: the PostgreSQL connection must be a postgresql:// URL or {wanted}, "
            f"not {type(source).__module__}.{type(source).__name__}"
        )

    def close(self, client: Any) -> None:
        """Close a sync pool (the connections kept between operations go back first)."""
        for conn in _state_of(client).drain():
            client.putconn(conn)
        client.close()

    async def aclose(self, client: Any) -> None:
        """Close an asyncio pool (never opened ones included)."""
        _opening.discard(id(client))
        for conn in _state_of(client).drain():
            await client.putconn(conn)
        if not client.closed:
            await client.close()


FACTORY = PgFactory()
