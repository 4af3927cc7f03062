"""Running PostgreSQL plans on a connection: checkout, Begin/Commit, transactions, cleanup.

The logic is the same for every client library, so it lives here once, twice
mirrored (:class:`SyncSession` / :class:`AsyncSession`, as psycopg mirrors
``Connection`` / ``AsyncConnection``).  A driver module supplies a *connector*:
how to check a connection out and back in, send one statement, COPY rows, and
tell whether a connection is inside a transaction.  No client library is
imported here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from ...errors import BackendConnectionError, ConfigurationError, ConflictError
from ...run import Plan, collect, iter_async, iter_sync, run_async, run_sync
from . import tx
from .commands import Begin, Commit, Copy, Sql

__all__ = [
    "AsyncConnector", "AsyncSession", "AsyncTransaction", "SyncConnector", "SyncSession", "SyncTransaction",
    "areply", "reply", "server_error",
]  # fmt: skip


class SyncConnector(Protocol):
    """What a blocking driver provides."""

    key: Any
    model: str

    def acquire(self) -> Any:
        """Check a connection out (of the pool)."""

    def release(self, conn: Any) -> None:
        """Give a connection back."""

    def sql(self, conn: Any, command: Sql) -> Any:
        """Send one statement; return the reply ``command.fetch`` asks for."""

    def copy(self, conn: Any, command: Copy) -> int:
        """COPY rows in; return how many."""

    def in_transaction(self, conn: Any) -> bool:
        """True when the connection is inside a transaction (or is not autocommit)."""

    def implicit(self, conn: Any) -> bool:
        """True when statements on this idle connection open a transaction someone must end (not autocommit)."""

    def end(self, conn: Any, commit: bool) -> None:
        """Commit or roll back the transaction a non-autocommit connection opened by itself."""


class AsyncConnector(Protocol):
    """What an asyncio driver provides (the same as :class:`SyncConnector`, awaited)."""

    key: Any
    model: str

    async def acquire(self) -> Any:
        """Check a connection out (of the pool)."""

    async def release(self, conn: Any) -> None:
        """Give a connection back."""

    async def sql(self, conn: Any, command: Sql) -> Any:
        """Send one statement; return the reply ``command.fetch`` asks for."""

    async def copy(self, conn: Any, command: Copy) -> int:
        """COPY rows in; return how many."""

    def in_transaction(self, conn: Any) -> bool:
        """True when the connection is inside a transaction (or is not autocommit)."""

    def implicit(self, conn: Any) -> bool:
        """True when statements on this idle connection open a transaction someone must end (not autocommit)."""

    async def end(self, conn: Any, commit: bool) -> None:
        """Commit or roll back the transaction a non-autocommit connection opened by itself."""


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
    if fetch == "count":
        return cur.rowcount
    if fetch == "one":
        return await cur.fetchone()
    if fetch == "all":
        return await cur.fetchall()
    return cur.statusmessage


def server_error(model: str, url: str, exc: Exception, kind: str | None, constraint: str | None = None) -> Exception:
    """The library's error for a classified driver error (``kind``: unique, table, connection), else ``exc``.

    Each driver module only classifies its client library's exceptions; the messages live here once.
    """
    if kind == "unique":
        return ConflictError(f"{model}: a unique index ({constraint}) already holds these values: {exc}")
    if kind == "table":
        return ConfigurationError(f"{model}: {exc}; create it first with {model}.create_table()")
    if kind == "connection":
        return BackendConnectionError(f"cannot reach PostgreSQL at {url} (or the connection was lost): {exc}")
    return exc


def _commit_checked(model: str, sql: str, status: Any) -> None:
    if sql == "COMMIT" and status == "ROLLBACK":
        raise tx.rolled_back_error(model)


class SyncSession:
    """Runs plans with a blocking connector."""

    __slots__ = ("connector",)

    def __init__(self, connector: SyncConnector) -> None:
        """Wrap a connector."""
        self.connector = connector

    def _checkout(self) -> tuple[Any, bool]:
        held = tx.bound(self.connector.key, self.connector.model)
        if held is not None:
            return held.conn, False
        return self.connector.acquire(), True

    def _executor(self, conn: Any, steps: tx.Steps) -> Any:
        connector = self.connector

        def execute(command: Any) -> Any:
            kind = type(command)
            if kind is Sql:
                return connector.sql(conn, command)
            if kind is Copy:
                return connector.copy(conn, command)
            if kind is Begin:
                sql = steps.begin(connector.in_transaction(conn), command.read_only)
                if sql is not None:
                    connector.sql(conn, Sql(sql))
                return None
            if kind is Commit:
                sql = steps.commit()
                if sql is not None:
                    _commit_checked(connector.model, sql, connector.sql(conn, Sql(sql, (), "status")))
                return None
            raise TypeError(f"not a PostgreSQL command: {command!r}")

        return execute

    def _abort(self, conn: Any, steps: tx.Steps) -> None:
        for sql in steps.rollback():
            try:
                self.connector.sql(conn, Sql(sql))
            except Exception:  # noqa: BLE001 - the connection may be gone; the pool discards it
                return

    def run(self, plan: Plan[Any]) -> Any:
        """Run a plan to completion on one connection."""
        conn, owned = self._checkout()
        implicit = owned and self.connector.implicit(conn)
        steps = tx.Steps()
        ok = False
        try:
            result = run_sync(self._executor(conn, steps), plan)
            ok = True
            return result
        finally:
            if steps.opened:
                self._abort(conn, steps)
            if implicit:
                self.connector.end(conn, ok)
            if owned:
                self.connector.release(conn)

    def iter(self, plan: Plan[Any]) -> Iterator[Any]:
        """Run a streaming plan, holding one connection until it ends or is closed.

        On a user's non-autocommit connection the results are read in full first: the
        loop body may write on that same connection, and those writes must be committed.
        """
        conn, owned = self._checkout()
        implicit = owned and self.connector.implicit(conn)
        if implicit:
            self.connector.release(conn)
            yield from self.run(collect(plan))
            return
        steps = tx.Steps()
        try:
            yield from iter_sync(self._executor(conn, steps), plan)
        finally:
            if steps.opened:
                self._abort(conn, steps)
            if owned:
                self.connector.release(conn)


class AsyncSession:
    """Runs plans with an asyncio connector; mirrors :class:`SyncSession`."""

    __slots__ = ("connector",)

    def __init__(self, connector: AsyncConnector) -> None:
        """Wrap a connector."""
        self.connector = connector

    async def _checkout(self) -> tuple[Any, bool]:
        held = tx.bound(self.connector.key, self.connector.model)
        if held is not None:
            return held.conn, False
        return await self.connector.acquire(), True

    def _executor(self, conn: Any, steps: tx.Steps) -> Any:
        connector = self.connector

        async def execute(command: Any) -> Any:
            kind = type(command)
            if kind is Sql:
                return await connector.sql(conn, command)
            if kind is Copy:
                return await connector.copy(conn, command)
            if kind is Begin:
                sql = steps.begin(connector.in_transaction(conn), command.read_only)
                if sql is not None:
                    await connector.sql(conn, Sql(sql))
                return None
            if kind is Commit:
                sql = steps.commit()
                if sql is not None:
                    _commit_checked(connector.model, sql, await connector.sql(conn, Sql(sql, (), "status")))
                return None
            raise TypeError(f"not a PostgreSQL command: {command!r}")

        return execute

    async def _abort(self, conn: Any, steps: tx.Steps) -> None:
        for sql in steps.rollback():
            try:
                await self.connector.sql(conn, Sql(sql))
            except Exception:  # noqa: BLE001 - the connection may be gone; the pool discards it
                return

    async def run(self, plan: Plan[Any]) -> Any:
        """Run a plan to completion on one connection."""
        conn, owned = await self._checkout()
        implicit = owned and self.connector.implicit(conn)
        steps = tx.Steps()
        ok = False
        try:
            result = await run_async(self._executor(conn, steps), plan)
            ok = True
            return result
        finally:
            if steps.opened:
                await self._abort(conn, steps)
            if implicit:
                await self.connector.end(conn, ok)
            if owned:
                await self.connector.release(conn)

    async def iter(self, plan: Plan[Any]) -> AsyncIterator[Any]:
        """Run a streaming plan, holding one connection until it ends or is closed (see :meth:`SyncSession.iter`)."""
        conn, owned = await self._checkout()
        implicit = owned and self.connector.implicit(conn)
        if implicit:
            await self.connector.release(conn)
            for item in await self.run(collect(plan)):
                yield item
            return
        steps = tx.Steps()
        try:
            async for item in iter_async(self._executor(conn, steps), plan):
                yield item
        finally:
            if steps.opened:
                await self._abort(conn, steps)
            if owned:
                await self.connector.release(conn)


class SyncTransaction:
    """``with Model.transaction():`` — one connection bound to this thread; nested blocks are savepoints."""

    __slots__ = ("_held", "_savepoint", "_token", "connector")

    def __init__(self, connector: SyncConnector) -> None:
        """A transaction block over a connector (entered with ``with``)."""
        self.connector = connector
        self._held: tx.Bound | None = None
        self._savepoint: str | None = None
        self._token: Any = None

    def __enter__(self) -> SyncTransaction:
        """Begin (or open a savepoint inside the current task's transaction)."""
        c = self.connector
        held = tx.held(c.key)  # a child task's own block starts a transaction of its own
        if held is not None:
            held.depth += 1
            self._held, self._savepoint = held, tx.savepoint(held.depth)
            try:
                c.sql(held.conn, Sql(f"SAVEPOINT {self._savepoint}"))
            except BaseException:
                held.depth -= 1
                raise
            return self
        conn = c.acquire()
        try:
            c.sql(conn, Sql("BEGIN"))
        except BaseException:
            c.release(conn)
            raise
        self._held, self._token = tx.bind(c.key, conn, c.model)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Commit (or release the savepoint) on success; roll back on any exception."""
        c, held = self.connector, self._held
        assert held is not None
        if self._savepoint is not None:
            held.depth -= 1
            if exc_type is None:
                c.sql(held.conn, Sql(f"RELEASE SAVEPOINT {self._savepoint}"))
                return
            with contextlib.suppress(Exception):  # the original exception is what the caller must see
                c.sql(held.conn, Sql(f"ROLLBACK TO SAVEPOINT {self._savepoint}"))
                c.sql(held.conn, Sql(f"RELEASE SAVEPOINT {self._savepoint}"))
            return
        try:
            if exc_type is None:
                _commit_checked(c.model, "COMMIT", c.sql(held.conn, Sql("COMMIT", (), "status")))
            else:
                with contextlib.suppress(Exception):  # a dead connection rolled back by itself
                    c.sql(held.conn, Sql("ROLLBACK"))
        finally:
            tx.unbind(held, self._token)
            c.release(held.conn)


class AsyncTransaction:
    """``async with Model.transaction():`` — mirrors :class:`SyncTransaction`, bound to the current task.

    A cancelled block rolls back and returns its connection to the pool.
    """

    __slots__ = ("_held", "_savepoint", "_token", "connector")

    def __init__(self, connector: AsyncConnector) -> None:
        """A transaction block over a connector (entered with ``async with``)."""
        self.connector = connector
        self._held: tx.Bound | None = None
        self._savepoint: str | None = None
        self._token: Any = None

    async def __aenter__(self) -> AsyncTransaction:
        """Begin (or open a savepoint inside the current task's transaction)."""
        c = self.connector
        held = tx.held(c.key)  # a child task's own block starts a transaction of its own
        if held is not None:
            held.depth += 1
            self._held, self._savepoint = held, tx.savepoint(held.depth)
            try:
                await c.sql(held.conn, Sql(f"SAVEPOINT {self._savepoint}"))
            except BaseException:
                held.depth -= 1
                raise
            return self
        conn = await c.acquire()
        try:
            await c.sql(conn, Sql("BEGIN"))
        except BaseException:
            await c.release(conn)
            raise
        self._held, self._token = tx.bind(c.key, conn, c.model)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Commit (or release the savepoint) on success; roll back on any exception or cancellation."""
        c, held = self.connector, self._held
        assert held is not None
        if self._savepoint is not None:
            held.depth -= 1
            if exc_type is None:
                await c.sql(held.conn, Sql(f"RELEASE SAVEPOINT {self._savepoint}"))
                return
            with contextlib.suppress(Exception):  # the original exception is what the caller must see
                await c.sql(held.conn, Sql(f"ROLLBACK TO SAVEPOINT {self._savepoint}"))
                await c.sql(held.conn, Sql(f"RELEASE SAVEPOINT {self._savepoint}"))
            return
        try:
            if exc_type is None:
                _commit_checked(c.model, "COMMIT", await c.sql(held.conn, Sql("COMMIT", (), "status")))
            else:
                with contextlib.suppress(Exception):  # a dead connection rolled back by itself
                    await c.sql(held.conn, Sql("ROLLBACK"))
        finally:
            tx.unbind(held, self._token)
            await c.release(held.conn)
