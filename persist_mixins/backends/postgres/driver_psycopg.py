"""psycopg 3 drivers: check connections out of psycopg_pool pools and execute one command.

:class:`PgDriver` (blocking) and :class:`AsyncPgDriver` (asyncio) differ only by
``await``; what a run does around a command (joining a transaction, Begin/Commit,
rolling back) is in :mod:`.transaction`, and the pools built from URLs are cached
and closed by :mod:`persist_mixins.connections` through :data:`FACTORY` (per process
for sync models, per event loop for asyncio ones).  Server errors become the
library's errors where they mean something to the user (a unique clash is a
:class:`~persist_mixins.errors.ConflictError`, a missing table says to call
``create_table()``); the rest surface unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus
from psycopg.types.json import set_json_loads

from ...backend import Flavour
from ...connections import safe_url
from ...errors import BackendConnectionError, ConfigurationError, ConflictError, RetryableError
from .commands import Begin, Commit, Copy, Sql
from .transaction import PG_SESSION

__all__ = ["FACTORY", "RETRYABLE", "AsyncPgDriver", "PgDriver", "areply", "kind_of", "reply", "server_error"]

#: Pool sizes and the wait for a free connection, for pools built from URLs.
POOL_MIN, POOL_MAX, POOL_TIMEOUT = 1, 10, 10.0


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


def server_error(model: str, url: str, exc: Exception, kind: str | None, constraint: str | None = None) -> Exception:
    """The library's error for a classified driver error (``kind``: unique, table, connection), else ``exc``.

    Each driver module only classifies its client library's exceptions; the messages live here once.
    """
    if kind == "unique":
        return ConflictError(f"{model}: a unique index ({constraint}) already holds these values: {exc}")
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
    if sqlstate == "42P01":
        return "table"
    if sqlstate in RETRYABLE:
        return "retry"
    if sqlstate is None:
        return "connection" if operational else None
    return "connection" if sqlstate.startswith("08") or sqlstate in _LOST else None


def translate(model: str, url: str, exc: Exception) -> Exception:
    """The error to raise for a server or connection error (the original becomes ``__cause__``)."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return server_error(model, url, exc, "connection")
    kind = kind_of(getattr(exc, "sqlstate", None), isinstance(exc, psycopg.OperationalError))
    constraint = getattr(getattr(exc, "diag", None), "constraint_name", None)
    return server_error(model, url, exc, kind, constraint)


def _copy_sql(command: Copy) -> str:
    return f"COPY {command.table} ({', '.join(command.columns)}) FROM STDIN"


class _Base:
    """What both flavours share: the source, routing, and the connection checks that need no I/O."""

    __slots__ = ("key", "model", "pooled", "route", "source", "url")
    rules = PG_SESSION
    shared = None

    def __init__(self, source: Any, url: str, model: str, pool_type: type) -> None:
        """Wrap a pool or connection; ``url`` names the server in errors, ``model`` the class."""
        self.source = self.key = source
        self.pooled = isinstance(source, pool_type)
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
        return translate(self.model, self.url, exc)


class PgDriver(_Base):
    """Runs statements on a psycopg ``Connection`` or a ``ConnectionPool`` (blocking)."""

    __slots__ = ()

    def acquire(self) -> Any:
        """A connection from the pool (or the one connection given)."""
        try:
            return self.source.getconn() if self.pooled else self.source
        except psycopg_pool.PoolTimeout as exc:
            raise self._error(exc) from exc

    def release(self, conn: Any) -> None:
        """Return a pooled connection (a broken one is discarded by the pool)."""
        if self.pooled:
            self.source.putconn(conn)

    def execute(self, conn: Any, command: Sql | Copy) -> Any:
        """Send one statement, or COPY rows in (the reply is then how many)."""
        try:
            if isinstance(command, Sql):
                return reply(conn.execute(command.text, command.params or None), command)
            with conn.cursor() as cur, cur.copy(_copy_sql(command)) as cp:
                for row in command.rows:
                    cp.write_row(row)
            return len(command.rows)
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def end(self, conn: Any, commit: bool) -> None:
        """Commit or roll back what a non-autocommit connection opened by itself."""
        try:
            conn.commit() if commit else conn.rollback()
        except psycopg.Error as exc:
            raise self._error(exc) from exc


class AsyncPgDriver(_Base):
    """Runs statements on a psycopg ``AsyncConnection`` or an ``AsyncConnectionPool``."""

    __slots__ = ()

    async def acquire(self) -> Any:
        """A connection from the pool (opened on first use), or the one connection given."""
        try:
            if self.pooled and self.source.closed and id(self.source) in _opening:
                await self.source.open()
                _opening.discard(id(self.source))
            return (await self.source.getconn()) if self.pooled else self.source
        except psycopg_pool.PoolTimeout as exc:
            raise self._error(exc) from exc

    async def release(self, conn: Any) -> None:
        """Return a pooled connection (a broken one is discarded by the pool)."""
        if self.pooled:
            await self.source.putconn(conn)

    async def execute(self, conn: Any, command: Sql | Copy) -> Any:
        """Send one statement, or COPY rows in (the reply is then how many)."""
        try:
            if isinstance(command, Sql):
                return await areply(await conn.execute(command.text, command.params or None), command)
            async with conn.cursor() as cur, cur.copy(_copy_sql(command)) as cp:
                for row in command.rows:
                    await cp.write_row(row)
            return len(command.rows)
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    async def end(self, conn: Any, commit: bool) -> None:
        """Commit or roll back what a non-autocommit connection opened by itself."""
        try:
            await (conn.commit() if commit else conn.rollback())
        except psycopg.Error as exc:
            raise self._error(exc) from exc


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
        if flavour == "sync":
            return psycopg_pool.ConnectionPool(url, open=True, configure=_configure, **options)
        pool = psycopg_pool.AsyncConnectionPool(url, open=False, configure=_aconfigure, **options)
        _opening.add(id(pool))
        return pool

    def wrap(self, source: Any, flavour: Flavour, model: type, url: str | None) -> Any:
        """The driver over a pool or connection of the right flavour (or an aiopg pool, for asyncio)."""
        name = model.__name__
        if flavour == "sync":
            if isinstance(source, psycopg_pool.ConnectionPool):
                return PgDriver(source, safe_url(url or str(source.conninfo)), name, psycopg_pool.ConnectionPool)
            if isinstance(source, psycopg.Connection):
                return PgDriver(source, _conn_url(source), name, psycopg_pool.ConnectionPool)
            wanted = "a psycopg Connection / psycopg_pool ConnectionPool (async models take async ones)"
        else:
            if isinstance(source, psycopg_pool.AsyncConnectionPool):
                pool_url = safe_url(url or str(source.conninfo))
                return AsyncPgDriver(source, pool_url, name, psycopg_pool.AsyncConnectionPool)
            if isinstance(source, psycopg.AsyncConnection):
                return AsyncPgDriver(source, _conn_url(source), name, psycopg_pool.AsyncConnectionPool)
            if type(source).__module__.startswith("aiopg"):
                from .driver_aiopg import AiopgDriver

                return AiopgDriver(source, name)
            wanted = (
                "a psycopg AsyncConnection / AsyncConnectionPool or an aiopg Pool / Connection "
                "(sync models take sync ones)"
            )
        raise ConfigurationError(
            f"{name}: the PostgreSQL connection must be a postgresql:// URL or {wanted}, "
            f"not {type(source).__module__}.{type(source).__name__}"
        )

    def close(self, client: Any) -> None:
        """Close a sync pool."""
        client.close()

    async def aclose(self, client: Any) -> None:
        """Close an asyncio pool (never opened ones included)."""
        _opening.discard(id(client))
        if not client.closed:
            await client.close()


FACTORY = PgFactory()
