"""aiopg driver: run PostgreSQL plans on an ``aiopg`` pool or connection (psycopg 2, asyncio).

For users of the older stack, who already hold an aiopg pool: pass it as
``__postgres__`` (or to ``configure(postgres=...)``) on an asyncio model.
psycopg 2 in asynchronous mode has no COPY, so ``set_many()`` sends multi-row
INSERTs into its staging table instead; everything else is the same SQL as the
psycopg 3 drivers.  aiopg connections are always autocommit, which the
session rules in :mod:`.transaction` expect.
"""

from __future__ import annotations

from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from ...errors import BackendConnectionError
from .commands import Begin, Commit, Copy, Sql
from .driver_psycopg import areply, kind_of, server_error
from .transaction import PG_SESSION

__all__ = ["AiopgDriver"]

# UUID parameters (lookups, pks) adapt, and uuid columns read back as UUID.
psycopg2.extras.register_uuid()  # type: ignore[no-untyped-call]
#: psycopg 2 allows 65,535 parameters per statement too: rows per INSERT when emulating COPY.
_PARAMS = 60000


def _translate(model: str, url: str, exc: Exception) -> Exception:
    if isinstance(exc, psycopg2.InterfaceError):  # the connection is already closed
        return server_error(model, url, exc, "connection")
    kind = kind_of(getattr(exc, "pgcode", None), isinstance(exc, psycopg2.OperationalError))
    constraint = getattr(getattr(exc, "diag", None), "constraint_name", None)
    return server_error(model, url, exc, kind, constraint)


class AiopgDriver:
    """Runs statements on an ``aiopg.Pool`` or ``aiopg.Connection``."""

    __slots__ = ("key", "model", "pooled", "route", "source", "url")
    rules = PG_SESSION
    shared = None

    def __init__(self, source: Any, model: str) -> None:
        """Wrap an aiopg pool or connection; ``model`` names the class in errors."""
        import aiopg

        self.source = self.key = source
        self.pooled = isinstance(source, aiopg.Pool)
        self.model = model
        # aiopg keeps a pool's DSN private; a connection exposes it.
        dsn = psycopg2.extensions.parse_dsn(getattr(source, "dsn", None) or getattr(source, "_dsn", None) or "")
        where = f"{dsn.get('host', 'localhost')}:{dsn.get('port', 5432)}/{dsn.get('dbname', '')}"
        self.url = f"postgresql://{dsn.get('user', '')}@{where}"
        self.route = dict.fromkeys((Sql, Copy, Begin, Commit), self)

    async def acquire(self) -> Any:
        """A connection from the pool, or the one connection given."""
        if not self.pooled:
            return self.source
        try:
            return await self.source.acquire()
        except (psycopg2.Error, OSError) as exc:
            raise BackendConnectionError(f"cannot reach PostgreSQL at {self.url}: {exc}") from exc

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
        except psycopg2.Error as exc:
            raise _translate(self.model, self.url, exc) from exc

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
