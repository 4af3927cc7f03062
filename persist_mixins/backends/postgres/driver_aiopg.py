"""aiopg driver: run PostgreSQL plans on an ``aiopg`` pool or connection (psycopg 2, asyncio).

For users of the older stack, who already hold an aiopg pool: pass it as
``__postgres__`` (or to ``configure(postgres=...)``) on an asyncio model.
psycopg 2 in asynchronous mode has no COPY, so ``set_many()`` sends multi-row
INSERTs into its staging table instead; everything else is the same SQL as the
psycopg 3 drivers.  aiopg connections are always autocommit, which the
session rules in :mod:`.transaction` expect.
"""

from __future__ import annotations

import asyncio
import select
from typing import Any, NoReturn

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from ...errors import BackendConnectionError, PoolTimeoutError
from .commands import Begin, Commit, Copy, Sql
from .driver_psycopg import areply, kind_of, server_error
from .transaction import PG_SESSION

__all__ = ["AiopgDriver"]

# UUID parameters (lookups, pks) adapt, and uuid columns read back as UUID.
psycopg2.extras.register_uuid()  # type: ignore[no-untyped-call]
#: psycopg 2 allows 65,535 parameters per statement too: rows per INSERT when emulating COPY.
_PARAMS = 60000


def _translate(model: str, url: str, exc: Exception, table: str | None = None) -> Exception:
    if isinstance(exc, psycopg2.InterfaceError):  # the connection is already closed
        return server_error(model, url, exc, "connection")
    kind = kind_of(getattr(exc, "pgcode", None), isinstance(exc, psycopg2.OperationalError))
    return server_error(model, url, exc, kind, getattr(exc, "diag", None), table)


def _fail(model: str, url: str, exc: Exception, table: str | None = None) -> NoReturn:
    """Raise the library's error for ``exc`` (which becomes its ``__cause__``), or ``exc`` itself."""
    error = _translate(model, url, exc, table)
    if error is exc:
        raise exc
    raise error from exc


def _failure(exc: BaseException) -> Exception | None:
    """The server's error behind ``exc``; None for a cancellation of the task itself.

    aiopg raises ``asyncio.CancelledError`` in place of psycopg 2's ``QueryCanceledError``
    (a ``statement_timeout``, or ``pg_cancel_backend()`` from another session), keeping
    the server's error only as the ``__context__``: left so, a task nobody cancelled would
    look cancelled to ``gather()`` / ``TaskGroup`` and slip past ``except Exception``.
    """
    if not isinstance(exc, asyncio.CancelledError):
        return exc if isinstance(exc, Exception) else None
    cause = exc.__context__
    if not isinstance(cause, psycopg2.extensions.QueryCanceledError):
        return None
    cancelling = getattr(asyncio.current_task(), "cancelling", None)  # Python 3.11+
    if cancelling is not None and cancelling():
        return None  # the task is being cancelled as well: the cancellation wins
    return cause


async def _closed_by_server(conn: Any) -> bool:
    """True when the server has closed ``conn`` while it sat idle in the pool.

    aiopg notices a closed socket itself, but only once the event loop has run its reader;
    an operation right after the server ended its sessions could get such a connection.
    As in :func:`.driver_psycopg.closed_by_server`: a connection whose socket has nothing
    to read is taken as alive (one ``select()``, no round trip); one the server wrote to is
    checked with ``SELECT 1``, and closed if that fails.
    """
    if conn.closed:
        return True
    if not select.select((conn.raw.fileno(),), (), (), 0)[0]:
        return False
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT 1")
    except (psycopg2.Error, OSError):
        conn.close()
        return True
    return bool(conn.closed)


class AiopgDriver:
    """Runs statements on an ``aiopg.Pool`` or ``aiopg.Connection``."""

    __slots__ = ("key", "model", "pooled", "route", "source", "table", "url")
    rules = PG_SESSION
    shared = None

    def __init__(self, source: Any, model: str, table: str | None = None) -> None:
        """Wrap an aiopg pool or connection; ``model`` names the class in errors, ``table`` its table."""
        import aiopg

        self.source = self.key = source
        self.table = table
        self.pooled = isinstance(source, aiopg.Pool)
        self.model = model
        # aiopg keeps a pool's DSN private; a connection exposes it.
        dsn = psycopg2.extensions.parse_dsn(getattr(source, "dsn", None) or getattr(source, "_dsn", None) or "")
        where = f"{dsn.get('host', 'localhost')}:{dsn.get('port', 5432)}/{dsn.get('dbname', '')}"
        self.url = f"postgresql://{dsn.get('user', '')}@{where}"
        self.route = dict.fromkeys((Sql, Copy, Begin, Commit), self)

    async def acquire(self) -> Any:
        """A live connection from the pool, or the one connection given.

        Raises:
            BackendConnectionError: the server cannot be reached.
            PoolTimeoutError: no connection came free within the pool's wait (all in use).
        """
        if not self.pooled:
            return self.source
        pool = self.source
        try:
            conn = await pool.acquire()
            while await _closed_by_server(conn):  # closed, the pool forgets it; the next is checked too
                await pool.release(conn)
                conn = await pool.acquire()
        except asyncio.TimeoutError as exc:  # aiopg's wait for a connection (the pool's timeout)
            if pool.maxsize and pool.size >= pool.maxsize:
                raise PoolTimeoutError(
                    f"{self.model}: no connection to PostgreSQL at {self.url} came free within the pool's wait "
                    f"({pool.timeout:g} s; the pool holds at most {pool.maxsize}, all in use)"
                ) from exc
            raise BackendConnectionError(
                f"cannot reach PostgreSQL at {self.url}: no connection within the pool's wait ({pool.timeout:g} s)"
            ) from exc
        except (psycopg2.Error, OSError) as exc:
            raise BackendConnectionError(f"cannot reach PostgreSQL at {self.url}: {exc}") from exc
        return conn

    async def release(self, conn: Any) -> None:
        """Return a pooled connection; a broken one is closed, and the pool forgets it."""
        if not self.pooled:
            return
        if not conn.closed and conn.raw.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            conn.close()  # left mid-transaction (cancelled, or the server went away): never reuse it
        await self.source.release(conn)

    async def execute(self, conn: Any, command: Sql | Copy) -> Any:
        """Send one statement, or insert COPY rows (the reply is then how many)."""
        if type(command) is Copy:
            return await self._copy(conn, command)
        assert type(command) is Sql
        try:
            async with conn.cursor() as cur:
                await cur.execute(command.text, command.params or None)
                return await areply(cur, command)
        except (psycopg2.Error, asyncio.CancelledError) as exc:
            failed = _failure(exc)
            if failed is None:
                raise
        # Raised outside the except clause, so that aiopg's CancelledError is not chained to it.
        _fail(self.model, self.url, failed, self.table)

    async def _copy(self, conn: Any, command: Copy) -> int:
        """Insert the rows with multi-row INSERTs (psycopg 2's async mode has no COPY)."""
        width = len(command.columns)
        per = max(1, _PARAMS // max(1, width))
        row_sql = "(" + ", ".join(["%s"] * width) + ")"
        head = f"INSERT INTO {command.table} ({', '.join(command.columns)}) VALUES "
        rows = command.rows
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            params = [value for row in chunk for value in row]
            await self.execute(conn, Sql(head + ", ".join([row_sql] * len(chunk)), params))
        return len(rows)

    def implicit(self, conn: Any) -> bool:
        """Always False: aiopg connections are autocommit."""
        return False

    async def end(self, conn: Any, commit: bool) -> None:
        """Nothing to end: aiopg connections are autocommit."""

    def in_transaction(self, conn: Any) -> bool:
        """True inside a transaction."""
        return bool(conn.raw.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE)
