"""psycopg 3 drivers: run PostgreSQL plans on psycopg connections and psycopg_pool pools.

:class:`PgConnector` (blocking) and :class:`AsyncPgConnector` (asyncio) mirror
each other name for name; the session logic they plug into is in
:mod:`.session`.  Pools built from URLs are cached per process (sync) and per
event loop (asyncio: a pool never crosses loops) and closed by ``close()``.
Server errors become the library's errors where they mean something to the
user (a unique clash is a :class:`~persist_mixins.errors.ConflictError`, a
missing table says to call ``create_table()``); the rest surface unchanged.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.types.json import set_json_loads

from ... import config
from ...errors import ConfigurationError
from .commands import Copy, Sql
from .session import AsyncSession, AsyncTransaction, SyncSession, SyncTransaction, areply, reply, server_error

__all__ = ["AsyncPgConnector", "PgConnector", "aclose", "async_driver", "close", "sync_driver"]

#: Pool sizes and the wait for a free connection, for pools built from URLs.
POOL_MIN, POOL_MAX, POOL_TIMEOUT = 1, 10, 10.0


def safe_url(url: str) -> str:
    """A URL with its password masked, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def translate(model: str, url: str, exc: Exception) -> Exception:
    """The error to raise for a server or connection error (the original becomes ``__cause__``)."""
    if isinstance(exc, pg_errors.UniqueViolation):
        return server_error(model, url, exc, "unique", getattr(exc.diag, "constraint_name", None))
    if isinstance(exc, pg_errors.UndefinedTable):
        return server_error(model, url, exc, "table")
    lost = isinstance(exc, (psycopg.OperationalError, psycopg_pool.PoolTimeout))
    return server_error(
        model, url, exc, "connection" if lost and not isinstance(exc, pg_errors.QueryCanceled) else None
    )


def _configure(conn: psycopg.Connection[Any]) -> None:
    set_json_loads(orjson.loads, conn)


async def _aconfigure(conn: psycopg.AsyncConnection[Any]) -> None:
    set_json_loads(orjson.loads, conn)


def _in_transaction(conn: Any) -> bool:
    return not conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE


class PgConnector:
    """Runs statements on a psycopg ``Connection`` or a ``ConnectionPool`` (blocking)."""

    __slots__ = ("key", "model", "pooled", "source", "url")

    def __init__(self, source: Any, url: str, model: str) -> None:
        """Wrap a pool or connection; ``url`` names the server in errors, ``model`` the class."""
        self.source = self.key = source
        self.pooled = isinstance(source, psycopg_pool.ConnectionPool)
        self.url = url
        self.model = model

    def acquire(self) -> Any:
        """A connection from the pool (or the one connection given)."""
        if not self.pooled:
            return self.source
        try:
            return self.source.getconn()
        except psycopg_pool.PoolTimeout as exc:
            raise translate(self.model, self.url, exc) from exc

    def release(self, conn: Any) -> None:
        """Return a pooled connection (a broken one is discarded by the pool)."""
        if self.pooled:
            self.source.putconn(conn)

    def sql(self, conn: Any, command: Sql) -> Any:
        """Send one statement."""
        try:
            return reply(conn.execute(command.text, command.params or None), command)
        except psycopg.Error as exc:
            raise translate(self.model, self.url, exc) from exc

    def copy(self, conn: Any, command: Copy) -> int:
        """COPY rows into a table."""
        try:
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY {command.table} ({', '.join(command.columns)}) FROM STDIN") as cp,
            ):
                for row in command.rows:
                    cp.write_row(row)
            return len(command.rows)
        except psycopg.Error as exc:
            raise translate(self.model, self.url, exc) from exc

    def in_transaction(self, conn: Any) -> bool:
        """True inside a transaction, or on a connection that is not autocommit."""
        return _in_transaction(conn)

    def implicit(self, conn: Any) -> bool:
        """True for an idle connection that is not autocommit (a user's, given as ``__postgres__``)."""
        return not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE

    def end(self, conn: Any, commit: bool) -> None:
        """Commit or roll back what a non-autocommit connection opened by itself."""
        try:
            conn.commit() if commit else conn.rollback()
        except psycopg.Error as exc:
            raise translate(self.model, self.url, exc) from exc


class AsyncPgConnector:
    """Runs statements on a psycopg ``AsyncConnection`` or an ``AsyncConnectionPool``."""

    __slots__ = ("key", "model", "pooled", "source", "url")

    def __init__(self, source: Any, url: str, model: str) -> None:
        """Wrap a pool or connection; ``url`` names the server in errors, ``model`` the class."""
        self.source = self.key = source
        self.pooled = isinstance(source, psycopg_pool.AsyncConnectionPool)
        self.url = url
        self.model = model

    async def acquire(self) -> Any:
        """A connection from the pool (opened on first use), or the one connection given."""
        if not self.pooled:
            return self.source
        try:
            if self.source.closed and id(self.source) in _opening:
                await self.source.open()
                _opening.discard(id(self.source))
            return await self.source.getconn()
        except psycopg_pool.PoolTimeout as exc:
            raise translate(self.model, self.url, exc) from exc

    async def release(self, conn: Any) -> None:
        """Return a pooled connection (a broken one is discarded by the pool)."""
        if self.pooled:
            await self.source.putconn(conn)

    async def sql(self, conn: Any, command: Sql) -> Any:
        """Send one statement."""
        try:
            return await areply(await conn.execute(command.text, command.params or None), command)
        except psycopg.Error as exc:
            raise translate(self.model, self.url, exc) from exc

    async def copy(self, conn: Any, command: Copy) -> int:
        """COPY rows into a table."""
        try:
            async with (
                conn.cursor() as cur,
                cur.copy(f"COPY {command.table} ({', '.join(command.columns)}) FROM STDIN") as cp,
            ):
                for row in command.rows:
                    await cp.write_row(row)
            return len(command.rows)
        except psycopg.Error as exc:
            raise translate(self.model, self.url, exc) from exc

    def in_transaction(self, conn: Any) -> bool:
        """True inside a transaction, or on a connection that is not autocommit."""
        return _in_transaction(conn)

    def implicit(self, conn: Any) -> bool:
        """True for an idle connection that is not autocommit (a user's, given as ``__postgres__``)."""
        return not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE

    async def end(self, conn: Any, commit: bool) -> None:
        """Commit or roll back what a non-autocommit connection opened by itself."""
        try:
            await (conn.commit() if commit else conn.rollback())
        except psycopg.Error as exc:
            raise translate(self.model, self.url, exc) from exc


# -- drivers per class -------------------------------------------------------------------------
class PgDriver:
    """What a sync model class uses: run plans, stream plans, open transactions."""

    __slots__ = ("connector", "session")

    def __init__(self, connector: PgConnector) -> None:
        """Wrap a connector."""
        self.connector = connector
        self.session = SyncSession(connector)

    def run(self, plan: Any) -> Any:
        """Run a plan to completion."""
        return self.session.run(plan)

    def iter(self, plan: Any) -> Any:
        """Stream a plan's items."""
        return self.session.iter(plan)

    def transaction(self) -> SyncTransaction:
        """A transaction block."""
        return SyncTransaction(self.connector)


class AsyncPgDriver:
    """What an asyncio model class uses; mirrors :class:`PgDriver`."""

    __slots__ = ("connector", "session")

    def __init__(self, connector: Any) -> None:
        """Wrap a connector (psycopg's or aiopg's)."""
        self.connector = connector
        self.session = AsyncSession(connector)

    async def run(self, plan: Any) -> Any:
        """Run a plan to completion."""
        return await self.session.run(plan)

    def iter(self, plan: Any) -> Any:
        """Stream a plan's items (an async iterator)."""
        return self.session.iter(plan)

    def transaction(self) -> AsyncTransaction:
        """A transaction block."""
        return AsyncTransaction(self.connector)


_sync_pools: dict[tuple[int, str], psycopg_pool.ConnectionPool] = {}
_async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, psycopg_pool.AsyncConnectionPool]] = (
    weakref.WeakKeyDictionary()
)
#: Async pools built but not yet opened (opening needs the running loop, building does not).
_opening: set[int] = set()
_DRIVER_ATTR = "__persist_pg_driver__"
_ASYNC_DRIVER_ATTR = "__persist_pg_async_driver__"


def _bad_setting(cls: type, value: Any, wanted: str) -> ConfigurationError:
    return ConfigurationError(
        f"{cls.__name__}: the PostgreSQL connection must be a postgresql:// URL or {wanted}, "
        f"not {type(value).__module__}.{type(value).__name__}"
    )


def _conn_url(conn: Any) -> str:
    info = conn.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


def sync_driver(cls: type) -> PgDriver:
    """The driver of a sync model class (resolved once per ``configure()`` generation)."""
    cached = cls.__dict__.get(_DRIVER_ATTR)
    if cached is not None and cached[0] == config.generation():
        return cached[1]  # type: ignore[no-any-return]
    value = config.setting("postgres", cls)
    if isinstance(value, str):
        key = (os.getpid(), value)  # a forked child builds its own pool
        pool = _sync_pools.get(key)
        if pool is None:
            pool = _sync_pools[key] = psycopg_pool.ConnectionPool(
                value, min_size=POOL_MIN, max_size=POOL_MAX, timeout=POOL_TIMEOUT, open=True,
                kwargs={"autocommit": True}, configure=_configure, name="persist_mixins",
            )  # fmt: skip
        connector = PgConnector(pool, safe_url(value), cls.__name__)
    elif isinstance(value, psycopg_pool.ConnectionPool):
        connector = PgConnector(value, safe_url(str(value.conninfo)), cls.__name__)
    elif isinstance(value, psycopg.Connection):
        connector = PgConnector(value, _conn_url(value), cls.__name__)
    else:
        raise _bad_setting(
            cls, value, "a psycopg Connection / psycopg_pool ConnectionPool (async models take async ones)"
        )
    driver = PgDriver(connector)
    setattr(cls, _DRIVER_ATTR, (config.generation(), driver))
    return driver


def async_driver(cls: type) -> AsyncPgDriver:
    """The driver of an asyncio model class, bound to the running event loop."""
    loop = asyncio.get_running_loop()
    cached = cls.__dict__.get(_ASYNC_DRIVER_ATTR)
    if cached is not None and cached[0] == config.generation() and cached[1]() is loop:
        return cached[2]  # type: ignore[no-any-return]
    driver = AsyncPgDriver(_async_connector(cls, loop))
    setattr(cls, _ASYNC_DRIVER_ATTR, (config.generation(), weakref.ref(loop), driver))
    return driver


def _async_connector(cls: type, loop: asyncio.AbstractEventLoop) -> Any:
    value = config.setting("postgres", cls)
    if isinstance(value, str):
        pools = _async_pools.setdefault(loop, {})
        pool = pools.get(value)
        if pool is None:
            pool = pools[value] = psycopg_pool.AsyncConnectionPool(
                value, min_size=POOL_MIN, max_size=POOL_MAX, timeout=POOL_TIMEOUT, open=False,
                kwargs={"autocommit": True}, configure=_aconfigure, name="persist_mixins",
            )  # fmt: skip
            _opening.add(id(pool))
        return AsyncPgConnector(pool, safe_url(value), cls.__name__)
    if isinstance(value, psycopg_pool.AsyncConnectionPool):
        return AsyncPgConnector(value, safe_url(str(value.conninfo)), cls.__name__)
    if isinstance(value, psycopg.AsyncConnection):
        return AsyncPgConnector(value, _conn_url(value), cls.__name__)
    if type(value).__module__.startswith("aiopg"):
        from .driver_aiopg import AiopgConnector

        return AiopgConnector(value, cls.__name__)
    raise _bad_setting(
        cls,
        value,
        "a psycopg AsyncConnection / AsyncConnectionPool or an aiopg Pool / Connection (sync models take sync ones)",
    )


def close() -> None:
    """Close the sync pools persist_mixins built from URLs."""
    while _sync_pools:
        _, pool = _sync_pools.popitem()
        pool.close()
    config.reset_generation()


async def aclose() -> None:
    """Close the asyncio pools persist_mixins built from URLs on the running loop."""
    pools = _async_pools.pop(asyncio.get_running_loop(), {})
    for pool in pools.values():
        _opening.discard(id(pool))
        if not pool.closed:
            await pool.close()
    config.reset_generation()
